//! [`CompiledSelectors`]: selectors pre-processed once per configuration
//! change for allocation-free matching.

use std::cmp::Ordering;
use std::marker::PhantomData;

use crate::model::{
    AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType, Selectors,
};
use crate::validate::is_all_of_type;
use crate::view::{EventView, ResourceRef};

/// Lists at most this long are scanned linearly; longer ones are indexed.
const LINEAR_MAX: usize = 8;

/// Which end of a string an [`AffixSet`] matches, and so the order its list is
/// sorted in: [`Prefix`] sorts bytewise, [`Suffix`] by the reversed string.
trait Affix {
    /// The list order.
    fn cmp(a: &str, b: &str) -> Ordering;
    /// Whether `v` has `affix` at this end.
    fn has(v: &str, affix: &str) -> bool;
    /// The `n` bytes of `b` at this end, `None` when `b` is shorter.
    fn end(b: &[u8], n: usize) -> Option<&[u8]>;
    /// The byte of `b` just past its `n` bytes at this end.
    fn past(b: &[u8], n: usize) -> Option<u8>;

    /// How many bytes at this end `a` and `b` share.
    fn common(a: &[u8], b: &[u8]) -> usize;
}

/// The start of a string: bytewise order.
#[derive(Clone, Copy, Debug, Default)]
struct Prefix;

impl Affix for Prefix {
    fn cmp(a: &str, b: &str) -> Ordering {
        a.cmp(b)
    }
    fn has(v: &str, affix: &str) -> bool {
        v.starts_with(affix)
    }
    fn end(b: &[u8], n: usize) -> Option<&[u8]> {
        b.get(..n)
    }
    fn past(b: &[u8], n: usize) -> Option<u8> {
        b.get(n).copied()
    }
    fn common(a: &[u8], b: &[u8]) -> usize {
        a.iter().zip(b).take_while(|(x, y)| x == y).count()
    }
}

/// The end of a string: order of the reversed bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Suffix;

impl Affix for Suffix {
    fn cmp(a: &str, b: &str) -> Ordering {
        a.bytes().rev().cmp(b.bytes().rev())
    }
    fn has(v: &str, affix: &str) -> bool {
        v.ends_with(affix)
    }
    fn end(b: &[u8], n: usize) -> Option<&[u8]> {
        b.len().checked_sub(n).map(|i| &b[i..])
    }
    fn past(b: &[u8], n: usize) -> Option<u8> {
        b.len().checked_sub(n + 1).map(|i| b[i])
    }
    fn common(a: &[u8], b: &[u8]) -> usize {
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
    }
}

/// Index of a list sorted in [`Affix::cmp`] order whose items share an affix
/// of `common` bytes: `offsets[b]..offsets[b + 1]` is the range of items whose
/// byte just past the affix is `b`. Lookups check the affix, then search only
/// that range. Empty for short lists.
#[derive(Clone, Debug, Default)]
struct ByteIndex {
    common: usize,
    offsets: Box<[u32]>,
}

impl ByteIndex {
    /// The index of `items`, sorted in `A` order, on the byte past their shared
    /// affix (that of a sorted list's first and last entries).
    fn new<A: Affix>(items: &[Box<str>]) -> ByteIndex {
        if items.len() <= LINEAR_MAX {
            return ByteIndex::default();
        }
        let common = match (items.first(), items.last()) {
            (Some(a), Some(b)) => A::common(a.as_bytes(), b.as_bytes()),
            _ => 0,
        };
        let rank = |e: &str| A::past(e.as_bytes(), common).map_or(0u32, |b| u32::from(b) + 1);
        let offsets = (0..=256u32)
            .map(|b| u32::try_from(items.partition_point(|e| rank(e) <= b)).unwrap_or(u32::MAX))
            .collect();
        ByteIndex { common, offsets }
    }

    /// The items whose discriminating byte is `b`.
    #[inline]
    fn bucket<'s>(&self, items: &'s [Box<str>], b: u8) -> &'s [Box<str>] {
        let lo = self.offsets[usize::from(b)] as usize;
        let hi = self.offsets[usize::from(b) + 1] as usize;
        items.get(lo..hi).unwrap_or(&[])
    }
}

/// A sorted, deduplicated set of strings for exact matching.
#[derive(Clone, Debug, Default)]
struct StrSet {
    items: Box<[Box<str>]>,
    index: ByteIndex,
}

impl StrSet {
    fn new<'s>(values: impl IntoIterator<Item = &'s String>) -> StrSet {
        let mut v: Vec<Box<str>> = values.into_iter().map(|s| s.as_str().into()).collect();
        v.sort_unstable();
        v.dedup();
        let index = ByteIndex::new::<Prefix>(&v);
        StrSet {
            items: v.into_boxed_slice(),
            index,
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    fn contains(&self, v: &str) -> bool {
        if self.items.len() <= LINEAR_MAX {
            return self.items.iter().any(|s| &**s == v);
        }
        let c = self.index.common;
        let b = v.as_bytes();
        if b.get(..c) != self.items[0].as_bytes().get(..c) {
            return false;
        }
        // Items are sorted, so one equal to the common prefix comes first.
        let Some(&k) = b.get(c) else {
            return &*self.items[0] == v;
        };
        self.index
            .bucket(&self.items, k)
            .binary_search_by(|s| s.as_bytes().cmp(b))
            .is_ok()
    }
}

/// Affixes (prefixes or suffixes, by `A`), sorted in `A` order, with every
/// entry that has another entry as its affix removed. Then the greatest entry
/// `<= v` is the only candidate affix of `v`: any entry strictly between an
/// affix `p` of `v` and `v` itself would have `p` as its affix and so have been
/// removed.
#[derive(Clone, Debug, Default)]
struct AffixSet<A> {
    items: Box<[Box<str>]>,
    index: ByteIndex,
    end: PhantomData<A>,
}

/// `StartsWith` values.
type PrefixSet = AffixSet<Prefix>;
/// `EndsWith` values.
type SuffixSet = AffixSet<Suffix>;

impl<A: Affix> AffixSet<A> {
    fn new<'s>(values: impl IntoIterator<Item = &'s String>) -> AffixSet<A> {
        let mut v: Vec<&str> = values.into_iter().map(String::as_str).collect();
        v.sort_unstable_by(|a, b| A::cmp(a, b));
        v.dedup();
        let mut kept: Vec<Box<str>> = Vec::with_capacity(v.len());
        for s in v {
            if kept.last().is_some_and(|p| A::has(s, p)) {
                continue;
            }
            kept.push(s.into());
        }
        let index = ByteIndex::new::<A>(&kept);
        AffixSet {
            items: kept.into_boxed_slice(),
            index,
            end: PhantomData,
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    fn matches(&self, v: &str) -> bool {
        if self.items.len() <= LINEAR_MAX {
            return self.items.iter().any(|p| A::has(v, p));
        }
        let c = self.index.common;
        let b = v.as_bytes();
        if A::end(b, c) != A::end(self.items[0].as_bytes(), c) {
            return false;
        }
        // With more than one entry left after pruning, no entry equals the
        // common affix, so every entry is longer than it.
        let Some(k) = A::past(b, c) else {
            return false;
        };
        let bucket = self.index.bucket(&self.items, k);
        let i = bucket.partition_point(|p| A::cmp(p, v) != Ordering::Greater);
        i > 0 && A::has(v, &bucket[i - 1])
    }
}

/// The event fields an advanced condition can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldId {
    EventCategory,
    EventSource,
    EventName,
    EventType,
    ReadOnly,
    UserIdentityArn,
    SessionCredentialFromConsole,
    ErrorCode,
    VpcEndpointId,
    /// A field CloudTrail does not define: always absent.
    Unknown,
    ResourceType,
    ResourceArn,
    /// `resources.<other>`: absent on every entry.
    ResourceUnknown,
}

impl FieldId {
    fn parse(f: &str) -> FieldId {
        match f {
            "eventCategory" => FieldId::EventCategory,
            "eventSource" => FieldId::EventSource,
            "eventName" => FieldId::EventName,
            "eventType" => FieldId::EventType,
            "readOnly" => FieldId::ReadOnly,
            "userIdentity.arn" => FieldId::UserIdentityArn,
            "sessionCredentialFromConsole" => FieldId::SessionCredentialFromConsole,
            "errorCode" => FieldId::ErrorCode,
            "vpcEndpointId" => FieldId::VpcEndpointId,
            "resources.type" => FieldId::ResourceType,
            "resources.ARN" => FieldId::ResourceArn,
            _ if f.starts_with("resources.") => FieldId::ResourceUnknown,
            _ => FieldId::Unknown,
        }
    }

    fn is_resource(self) -> bool {
        matches!(
            self,
            FieldId::ResourceType | FieldId::ResourceArn | FieldId::ResourceUnknown
        )
    }

    #[inline]
    fn event_value<'a>(self, ev: &EventView<'a>) -> Option<&'a str> {
        match self {
            FieldId::EventCategory => Some(ev.event_category),
            FieldId::EventSource => ev.event_source,
            FieldId::EventName => ev.event_name,
            FieldId::EventType => ev.event_type,
            FieldId::ReadOnly => ev.read_only_str(),
            FieldId::UserIdentityArn => ev.user_identity_arn,
            FieldId::SessionCredentialFromConsole => ev.session_credential_from_console,
            FieldId::ErrorCode => ev.error_code,
            FieldId::VpcEndpointId => ev.vpc_endpoint_id,
            FieldId::Unknown
            | FieldId::ResourceType
            | FieldId::ResourceArn
            | FieldId::ResourceUnknown => None,
        }
    }

    #[inline]
    fn resource_value<'a>(self, r: &ResourceRef<'a>) -> Option<&'a str> {
        match self {
            FieldId::ResourceType => r.resource_type,
            FieldId::ResourceArn => r.arn,
            _ => None,
        }
    }
}

/// One non-empty operator list, compiled.
#[derive(Clone, Debug)]
enum Matcher {
    /// `Equals`/`NotEquals` with a single value.
    Eq1(Box<str>),
    Eq(StrSet),
    Prefix(PrefixSet),
    Suffix(SuffixSet),
}

impl Matcher {
    #[inline]
    fn hit(&self, v: &str) -> bool {
        match self {
            Matcher::Eq1(x) => **x == *v,
            Matcher::Eq(s) => s.contains(v),
            Matcher::Prefix(s) => s.matches(v),
            Matcher::Suffix(s) => s.matches(v),
        }
    }

    fn len(&self) -> usize {
        match self {
            Matcher::Eq1(_) => 1,
            Matcher::Eq(s) => s.len(),
            Matcher::Prefix(s) => 2 * s.len(),
            Matcher::Suffix(s) => 2 * s.len(),
        }
    }

    /// The matchers of three lists (equals, starts, ends), empty ones left out.
    fn group(eq: StrSet, starts: PrefixSet, ends: SuffixSet) -> Box<[Matcher]> {
        let mut out = Vec::new();
        match eq.len() {
            0 => {}
            1 => out.push(Matcher::Eq1(eq.items[0].clone())),
            _ => out.push(Matcher::Eq(eq)),
        }
        if !starts.is_empty() {
            out.push(Matcher::Prefix(starts));
        }
        if !ends.is_empty() {
            out.push(Matcher::Suffix(ends));
        }
        out.into_boxed_slice()
    }
}

/// One compiled field selector.
#[derive(Clone, Debug)]
struct Cond {
    field: FieldId,
    /// Whether any SELECT operator list is present (even if empty).
    has_select: bool,
    /// Non-empty SELECT lists (Equals, StartsWith, EndsWith).
    select: Box<[Matcher]>,
    /// Non-empty DESELECT lists (NotEquals, NotStartsWith, NotEndsWith).
    deselect: Box<[Matcher]>,
}

impl Cond {
    fn new(fs: &AdvancedFieldSelector) -> Cond {
        fn all(l: &Option<Vec<String>>) -> impl Iterator<Item = &String> {
            l.iter().flatten()
        }
        Cond {
            field: FieldId::parse(&fs.field),
            has_select: fs.equals.is_some() || fs.starts_with.is_some() || fs.ends_with.is_some(),
            select: Matcher::group(
                StrSet::new(all(&fs.equals)),
                PrefixSet::new(all(&fs.starts_with)),
                SuffixSet::new(all(&fs.ends_with)),
            ),
            deselect: Matcher::group(
                StrSet::new(all(&fs.not_equals)),
                PrefixSet::new(all(&fs.not_starts_with)),
                SuffixSet::new(all(&fs.not_ends_with)),
            ),
        }
    }

    /// The result when it does not depend on the event.
    fn constant(&self) -> Option<bool> {
        if matches!(self.field, FieldId::Unknown | FieldId::ResourceUnknown) {
            return Some(!self.has_select);
        }
        if self.has_select && self.select.is_empty() {
            return Some(false);
        }
        if !self.has_select && self.deselect.is_empty() {
            return Some(true);
        }
        None
    }

    /// A rough cost, to evaluate cheap and selective conditions first.
    fn cost(&self) -> usize {
        let first = usize::from(self.field != FieldId::EventCategory);
        first * 1_000_000
            + self.select.iter().map(Matcher::len).sum::<usize>()
            + self.deselect.iter().map(Matcher::len).sum::<usize>()
    }

    #[inline]
    fn ok(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return !self.has_select;
        };
        if self.deselect.iter().any(|m| m.hit(v)) {
            return false;
        }
        !self.has_select || self.select.iter().any(|m| m.hit(v))
    }
}

#[derive(Clone, Debug)]
struct CompiledAdvanced {
    conds: Box<[Cond]>,
    resource_conds: Box<[Cond]>,
}

impl CompiledAdvanced {
    /// `None` when the selector can never match.
    fn new(sel: &AdvancedEventSelector) -> Option<CompiledAdvanced> {
        let mut conds = Vec::new();
        let mut resource_conds = Vec::new();
        for fs in &sel.field_selectors {
            let c = Cond::new(fs);
            match c.constant() {
                Some(true) => continue,
                Some(false) => return None,
                None => {}
            }
            if c.field.is_resource() {
                resource_conds.push(c);
            } else {
                conds.push(c);
            }
        }
        conds.sort_by_key(Cond::cost);
        resource_conds.sort_by_key(Cond::cost);
        Some(CompiledAdvanced {
            conds: conds.into_boxed_slice(),
            resource_conds: resource_conds.into_boxed_slice(),
        })
    }

    #[inline]
    fn matches(&self, ev: &EventView<'_>) -> bool {
        if !self.conds.iter().all(|c| c.ok(c.field.event_value(ev))) {
            return false;
        }
        if self.resource_conds.is_empty() {
            return true;
        }
        if ev.resources_is_empty() {
            return self.resource_conds.iter().all(|c| c.ok(None));
        }
        ev.resources().any(|r| {
            self.resource_conds
                .iter()
                .all(|c| c.ok(c.field.resource_value(&r)))
        })
    }
}

/// Data resources of one type within a basic selector.
#[derive(Clone, Debug)]
struct CompiledDataResource {
    ty: Box<str>,
    /// A value selecting all resources of the type.
    all: bool,
    /// S3 object ARN prefixes.
    prefixes: PrefixSet,
    /// Exact ARNs (all other types).
    exact: StrSet,
}

impl CompiledDataResource {
    #[inline]
    fn matches(&self, r: &ResourceRef<'_>) -> bool {
        if r.resource_type != Some(&*self.ty) {
            return false;
        }
        if self.all {
            return true;
        }
        match r.arn {
            Some(a) => self.prefixes.matches(a) || self.exact.contains(a),
            None => false,
        }
    }
}

#[derive(Clone, Debug)]
struct CompiledBasic {
    read_write: ReadWriteType,
    /// `None` when management events are not included.
    management: Option<StrSet>,
    data: Box<[CompiledDataResource]>,
}

impl CompiledBasic {
    fn new(sel: &EventSelector) -> CompiledBasic {
        let mut types: Vec<&str> = sel
            .data_resources
            .iter()
            .map(|d| d.r#type.as_str())
            .collect();
        types.sort_unstable();
        types.dedup();
        let data = types
            .into_iter()
            .map(|ty| {
                let values: Vec<&String> = sel
                    .data_resources
                    .iter()
                    .filter(|d| d.r#type == ty)
                    .flat_map(|d| d.values.iter())
                    .collect();
                let all = values.iter().any(|v| is_all_of_type(ty, v));
                let s3 = ty == "AWS::S3::Object";
                CompiledDataResource {
                    ty: ty.into(),
                    all,
                    prefixes: if s3 {
                        PrefixSet::new(values.iter().copied())
                    } else {
                        PrefixSet::default()
                    },
                    exact: if s3 {
                        StrSet::default()
                    } else {
                        StrSet::new(values.iter().copied())
                    },
                }
            })
            .filter(|d| d.all || !d.prefixes.is_empty() || !d.exact.is_empty())
            .collect();
        CompiledBasic {
            read_write: sel.read_write_type,
            management: sel
                .include_management_events
                .then(|| StrSet::new(&sel.exclude_management_event_sources)),
            data,
        }
    }

    #[inline]
    fn matches(&self, ev: &EventView<'_>) -> bool {
        let rw_ok = match self.read_write {
            ReadWriteType::All => true,
            ReadWriteType::ReadOnly => ev.read_only == Some(true),
            ReadWriteType::WriteOnly => ev.read_only == Some(false),
        };
        if !rw_ok {
            return false;
        }
        match ev.event_category {
            "Management" => match &self.management {
                Some(excluded) => ev.event_source.is_none_or(|s| !excluded.contains(s)),
                None => false,
            },
            "Data" => {
                !self.data.is_empty()
                    && ev
                        .resources()
                        .any(|r| self.data.iter().any(|d| d.matches(&r)))
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
enum Inner {
    Basic(Box<[CompiledBasic]>),
    Advanced(Box<[CompiledAdvanced]>),
}

/// Selectors compiled for fast matching.
///
/// Compile once per configuration change with [`CompiledSelectors::compile`];
/// [`CompiledSelectors::matches`] does not allocate. Compilation accepts any
/// selector set, valid or not, and matches exactly like
/// [`crate::naive::matches`] (property-tested).
#[derive(Clone, Debug)]
pub struct CompiledSelectors {
    inner: Inner,
}

impl CompiledSelectors {
    /// Compiles `selectors`: splits value lists by operator, sorts and
    /// deduplicates them, drops redundant prefixes/suffixes, folds conditions
    /// that do not depend on the event, and orders conditions cheapest first.
    pub fn compile(selectors: &Selectors) -> CompiledSelectors {
        let inner = match selectors {
            Selectors::Basic(b) => Inner::Basic(b.iter().map(CompiledBasic::new).collect()),
            Selectors::Advanced(a) => {
                Inner::Advanced(a.iter().filter_map(CompiledAdvanced::new).collect())
            }
        };
        CompiledSelectors { inner }
    }

    /// Whether the event is selected (OR over selectors).
    #[inline]
    pub fn matches(&self, ev: &EventView<'_>) -> bool {
        match &self.inner {
            Inner::Basic(b) => b.iter().any(|s| s.matches(ev)),
            Inner::Advanced(a) => a.iter().any(|s| s.matches(ev)),
        }
    }

    /// Convenience: [`EventView::from_record`] then [`CompiledSelectors::matches`].
    pub fn matches_record(&self, record: &serde_json::Value) -> bool {
        self.matches(&EventView::from_record(record))
    }

    /// Whether no event can ever match (e.g. every advanced selector is
    /// contradictory, or no selector includes anything).
    pub fn matches_nothing(&self) -> bool {
        match &self.inner {
            Inner::Basic(b) => b
                .iter()
                .all(|s| s.management.is_none() && s.data.is_empty()),
            Inner::Advanced(a) => a.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn prefix_set_large_and_small_agree() {
        let vals = strs(&[
            "arn:aws:s3:::a/",
            "arn:aws:s3:::a/x",
            "arn:aws:s3:::b",
            "arn:aws:s3:::bb/",
            "c",
            "d/e",
            "d/",
            "zz",
            "z",
            "m",
            "arn:aws:s3:::q/",
            "",
            "k1",
            "k2",
            "k3",
            "k4",
            "k5",
        ]);
        let big = PrefixSet::new(&vals);
        let no_empty: Vec<String> = vals.iter().filter(|v| !v.is_empty()).cloned().collect();
        let big2 = PrefixSet::new(&no_empty);
        assert!(big2.items.len() > LINEAR_MAX);
        for probe in [
            "arn:aws:s3:::a/x/y",
            "arn:aws:s3:::b2/k",
            "arn:aws:s3:::c",
            "d/f",
            "d",
            "zzz",
            "y",
            "arn:aws:s3:::bb",
            "arn:aws:s3:::q/1",
            "",
            "k",
            "k3x",
            "k6",
            "l",
        ] {
            let expect = no_empty.iter().any(|p| probe.starts_with(p.as_str()));
            assert_eq!(big2.matches(probe), expect, "{probe}");
            assert!(big.matches(probe));
        }
    }

    #[test]
    fn suffix_set_search() {
        let vals: Vec<String> = (0..20)
            .map(|i| format!("obj{i}.txt"))
            .chain(strs(&["5", ".log", "x.log"]))
            .collect();
        let set = SuffixSet::new(&vals);
        assert!(set.items.len() > LINEAR_MAX);
        for probe in [
            "a/obj3.txt",
            "a/b.log",
            "obj19.txt",
            "obj20.txt",
            "file5",
            "q",
            "",
            "obj1.tx",
        ] {
            let expect = vals.iter().any(|p| probe.ends_with(p.as_str()));
            assert_eq!(set.matches(probe), expect, "{probe}");
        }
    }

    /// All strings over {x, a, b} up to length 4 (prefixed by `pre`, suffixed by `suf`).
    fn words(pre: &str, suf: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for w in &frontier {
                for c in ['x', 'a', 'b'] {
                    next.push(format!("{w}{c}"));
                }
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out.into_iter().map(|w| format!("{pre}{w}{suf}")).collect()
    }

    #[test]
    fn indexed_sets_agree_with_brute_force() {
        for (pre, suf) in [("", ""), ("arn:", ""), ("", "/k"), ("p", "s")] {
            let all = words(pre, suf);
            let probes = words("", "")
                .into_iter()
                .chain(all.iter().cloned())
                .chain(words(pre, ""));
            let probes: Vec<String> = probes.chain(words("", suf)).collect();
            for start in (0..all.len()).step_by(7) {
                for size in [9, 13, 30] {
                    let vals: Vec<String> = all
                        .iter()
                        .cycle()
                        .skip(start)
                        .step_by(5)
                        .take(size)
                        .cloned()
                        .collect();
                    let eq = StrSet::new(&vals);
                    let pfx = PrefixSet::new(&vals);
                    let sfx = SuffixSet::new(&vals);
                    for p in &probes {
                        assert_eq!(eq.contains(p), vals.contains(p), "eq {p:?} in {vals:?}");
                        assert_eq!(
                            pfx.matches(p),
                            vals.iter().any(|v| p.starts_with(v.as_str())),
                            "prefix {p:?} in {vals:?}"
                        );
                        assert_eq!(
                            sfx.matches(p),
                            vals.iter().any(|v| p.ends_with(v.as_str())),
                            "suffix {p:?} in {vals:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn str_set_search() {
        let vals: Vec<String> = (0..30).map(|i| format!("Event{i}")).collect();
        let set = StrSet::new(&vals);
        assert!(set.contains("Event17"));
        assert!(!set.contains("Event30"));
        assert!(!set.contains(""));
    }

    #[test]
    fn constant_folding() {
        let fs = AdvancedFieldSelector {
            field: "noSuchField".into(),
            not_equals: Some(strs(&["x"])),
            ..Default::default()
        };
        assert_eq!(Cond::new(&fs).constant(), Some(true));
        let fs = AdvancedFieldSelector {
            field: "eventName".into(),
            equals: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(Cond::new(&fs).constant(), Some(false));
    }
}
