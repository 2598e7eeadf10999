//! Channels (`CreateChannel`, `GetChannel`, `ListChannels`, `DeleteChannel`): named entry
//! points for `PutAuditEvents`. A channel's events flow into the journal and from there into
//! every trail whose scope and selectors take them (they are routed as management events of
//! their `eventData.eventSource`).

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::trails::CallContext;
use crate::catalog::{Catalog, TrailStore};
use crate::error::ApiError;
use crate::model::Tag;

/// A stored channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// `arn:aws:cloudtrail:{region}:{account}:channel/{id}`.
    pub arn: String,
    /// Owner account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Name (3–128 of `[a-zA-Z0-9._-]`).
    pub name: String,
    /// `Custom` or a partner name.
    pub source: String,
    /// `[{Type, Location}]`.
    pub destinations: Vec<Destination>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// `{Type, Location}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// `EVENT_DATA_STORE` or `AWS_SERVICE`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// ARN of the destination.
    #[serde(rename = "Location")]
    pub location: String,
}

const MAX_CHANNELS: usize = 25;

/// Channels, in memory and in the catalog.
#[derive(Debug)]
pub struct Channels {
    by_arn: RwLock<BTreeMap<String, Channel>>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Value) -> Result<T, ApiError> {
    T::deserialize(body).map_err(|e| {
        ApiError::client(
            "SerializationException",
            format!("the request body does not match the operation's input shape: {e}"),
        )
    })
}

impl Channels {
    /// Loads channels from the catalog.
    pub fn load(catalog: &Catalog) -> Result<Self, crate::catalog::CatalogError> {
        let mut by_arn = BTreeMap::new();
        for doc in catalog.channels()? {
            let c: Channel =
                serde_json::from_str(&doc).map_err(|e| crate::catalog::CatalogError::Corrupt {
                    key: "channel".into(),
                    message: e.to_string(),
                })?;
            by_arn.insert(c.arn.clone(), c);
        }
        Ok(Self {
            by_arn: RwLock::new(by_arn),
        })
    }

    /// Resolves a channel ARN or ID visible to the caller.
    pub fn resolve(&self, ctx: &CallContext, channel: &str) -> Result<Channel, ApiError> {
        let map = self.by_arn.read().unwrap_or_else(|p| p.into_inner());
        let found = if channel.starts_with("arn:") {
            map.get(channel)
        } else {
            map.values()
                .find(|c| c.arn.ends_with(&format!(":channel/{channel}")))
        };
        match found {
            Some(c) if c.account_id == ctx.account && c.region == ctx.region => Ok(c.clone()),
            _ => Err(ApiError::client(
                "ChannelNotFoundException",
                format!("Channel {channel} not found"),
            )),
        }
    }

    /// `CreateChannel`.
    pub fn create(
        &self,
        catalog: &Catalog,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Req {
            name: Option<String>,
            source: Option<String>,
            destinations: Option<Vec<Destination>>,
            tags: Option<Vec<Tag>>,
        }
        let req: Req = parse(body)?;
        let name = req.name.unwrap_or_default();
        if !(3..=128).contains(&name.len())
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ApiError::client(
                "InvalidParameterException",
                format!(
                    "Channel name `{name}` is not valid: 3 to 128 letters, digits, '.', '_' or '-'"
                ),
            ));
        }
        let source = req.source.unwrap_or_default();
        if source.is_empty() || source.len() > 256 {
            return Err(ApiError::client(
                "InvalidSourceException",
                "Source must be `Custom` or a partner source name",
            ));
        }
        let destinations = req.destinations.unwrap_or_default();
        if destinations.is_empty() || destinations.len() > 200 {
            return Err(ApiError::client(
                "InvalidParameterException",
                "Destinations must list 1 to 200 destinations",
            ));
        }
        for d in &destinations {
            match d.kind.as_str() {
                "EVENT_DATA_STORE" => {
                    return Err(ApiError::client(
                        "EventDataStoreNotFoundException",
                        format!(
                            "event data store {} does not exist (CloudTrail Lake event data stores are not implemented by this Cairn server yet; use Type AWS_SERVICE)",
                            d.location
                        ),
                    ));
                }
                "AWS_SERVICE" => {}
                other => {
                    return Err(ApiError::client(
                        "InvalidParameterException",
                        format!(
                            "Destination type {other} is not valid; valid values are EVENT_DATA_STORE and AWS_SERVICE"
                        ),
                    ));
                }
            }
        }
        let tags = req.tags.unwrap_or_default();
        super::validate::tags(&tags, &[])?;
        let mut map = self.by_arn.write().unwrap_or_else(|p| p.into_inner());
        let mine: Vec<&Channel> = map
            .values()
            .filter(|c| c.account_id == ctx.account && c.region == ctx.region)
            .collect();
        if mine.iter().any(|c| c.name == name) {
            return Err(ApiError::client(
                "ChannelAlreadyExistsException",
                format!("Channel {name} already exists"),
            ));
        }
        if mine.len() >= MAX_CHANNELS {
            return Err(ApiError::client(
                "ChannelMaxLimitExceededException",
                format!("at most {MAX_CHANNELS} channels per region"),
            ));
        }
        let c = Channel {
            arn: format!(
                "arn:aws:cloudtrail:{}:{}:channel/{}",
                ctx.region,
                ctx.account,
                uuid::Uuid::new_v4()
            ),
            account_id: ctx.account.clone(),
            region: ctx.region.clone(),
            name,
            source,
            destinations,
            tags,
        };
        let doc = serde_json::to_string(&c).map_err(ApiError::internal)?;
        catalog
            .put_channel(&c.arn, &c.account_id, &c.region, &doc)
            .map_err(ApiError::internal)?;
        map.insert(c.arn.clone(), c.clone());
        Ok(json!({
            "ChannelArn": c.arn, "Name": c.name, "Source": c.source,
            "Destinations": c.destinations, "Tags": c.tags,
        }))
    }

    /// `GetChannel`.
    pub fn get(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let id = body
            .get("Channel")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let c = self.resolve(ctx, id)?;
        Ok(json!({
            "ChannelArn": c.arn, "Name": c.name, "Source": c.source,
            "SourceConfig": {"ApplyToAllRegions": false, "AdvancedEventSelectors": []},
            "Destinations": c.destinations,
            "IngestionStatus": {},
        }))
    }

    /// `ListChannels` (one page: at most 25 channels exist per region).
    pub fn list(&self, ctx: &CallContext) -> Value {
        let map = self.by_arn.read().unwrap_or_else(|p| p.into_inner());
        let list: Vec<Value> = map
            .values()
            .filter(|c| c.account_id == ctx.account && c.region == ctx.region)
            .map(|c| json!({"ChannelArn": c.arn, "Name": c.name}))
            .collect();
        json!({ "Channels": list })
    }

    /// `DeleteChannel`.
    pub fn delete(
        &self,
        catalog: &Catalog,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let id = body
            .get("Channel")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let c = self.resolve(ctx, id)?;
        catalog.delete_channel(&c.arn).map_err(ApiError::internal)?;
        self.by_arn
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.arn);
        Ok(json!({}))
    }
}
