//! Event data stores: create, list, update, delete.

use super::*;

impl Lake {
    pub(super) fn create(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let name = str_member(body, "Name")?;
        check_name(name)?;
        if body.get("KmsKeyId").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "KmsKeyId: encrypting an event data store with a KMS key is not implemented by this Cairn server",
            ));
        }
        if bool_member(body, "OrganizationEnabled")?.unwrap_or(false) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "OrganizationEnabled: organization event data stores are not implemented by this Cairn server",
            ));
        }
        let selectors = parse_selectors(body.get("AdvancedEventSelectors"))?
            .unwrap_or_else(Selectors::default_advanced);
        let billing_mode = match body.get("BillingMode").and_then(Value::as_str) {
            None => "EXTENDABLE_RETENTION_PRICING".to_owned(),
            Some(m @ ("EXTENDABLE_RETENTION_PRICING" | "FIXED_RETENTION_PRICING")) => m.to_owned(),
            Some(m) => {
                return Err(ApiError::invalid_parameter(format!(
                    "BillingMode {m} is not valid: use EXTENDABLE_RETENTION_PRICING or FIXED_RETENTION_PRICING"
                )));
            }
        };
        let retention = retention(body, &billing_mode)?.unwrap_or(
            if billing_mode == "FIXED_RETENTION_PRICING" {
                2557
            } else {
                366
            },
        );
        let now = unix_now();
        let store = Store {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            status: if bool_member(body, "StartIngestion")?.unwrap_or(true) {
                "ENABLED".into()
            } else {
                "STOPPED_INGESTION".into()
            },
            selectors,
            multi_region: bool_member(body, "MultiRegionEnabled")?.unwrap_or(true),
            retention_days: retention,
            termination_protection: bool_member(body, "TerminationProtectionEnabled")?
                .unwrap_or(true),
            billing_mode,
            created: now,
            updated: now,
            start_seq: self.journal.next_seq(),
            tags: body
                .get("TagsList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        };
        let mut stores = self.lock_stores();
        let mine = |s: &&Store| s.account == ctx.account && s.region == ctx.region;
        if stores.iter().filter(mine).any(|s| s.name == name) {
            return Err(ApiError::client(
                "EventDataStoreAlreadyExistsException",
                format!("an event data store named {name} already exists"),
            ));
        }
        if stores.iter().filter(mine).count() >= MAX_STORES {
            return Err(ApiError::client(
                "EventDataStoreMaxLimitExceededException",
                format!("an account can have at most {MAX_STORES} event data stores per region"),
            ));
        }
        std::fs::create_dir_all(
            cairn_lake::layout::store_dir(&self.data_dir, &store.id).join("logs"),
        )
        .map_err(ApiError::internal)?;
        stores.push(store.clone());
        self.save(&stores)?;
        let mut v = store.view(true);
        v["TagsList"] = json!(store.tags);
        Ok(v)
    }

    pub(super) fn list(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let max = max_results(body, "MaxResults", 1000, "InvalidMaxResultsException")?;
        let start = next_token(body)?;
        let stores: Vec<Value> = self
            .lock_stores()
            .iter()
            .filter(|s| s.account == ctx.account)
            .map(|s| s.view(false))
            .collect();
        page(stores, start, max, "EventDataStores")
    }

    pub(super) fn update(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let key = str_member(body, "EventDataStore")?;
        let mut stores = self.lock_stores();
        let i = position(&stores, ctx, key)?;
        let mut s = stores[i].clone();
        if s.status == "PENDING_DELETION" {
            return Err(inactive(key));
        }
        if body.get("KmsKeyId").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "KmsKeyId: encrypting an event data store with a KMS key is not implemented by this Cairn server",
            ));
        }
        if let Some(n) = body.get("Name").and_then(Value::as_str) {
            check_name(n)?;
            if stores.iter().any(|o| {
                o.id != s.id && o.account == s.account && o.region == s.region && o.name == n
            }) {
                return Err(ApiError::client(
                    "EventDataStoreAlreadyExistsException",
                    format!("an event data store named {n} already exists"),
                ));
            }
            s.name = n.to_owned();
        }
        if let Some(sel) = parse_selectors(body.get("AdvancedEventSelectors"))? {
            s.selectors = sel;
        }
        if let Some(m) = bool_member(body, "MultiRegionEnabled")? {
            s.multi_region = m;
        }
        if let Some(t) = bool_member(body, "TerminationProtectionEnabled")? {
            s.termination_protection = t;
        }
        if let Some(r) = retention(body, &s.billing_mode)? {
            s.retention_days = r;
        }
        s.updated = unix_now();
        stores[i] = s.clone();
        self.save(&stores)?;
        Ok(s.view(true))
    }

    pub(super) fn delete(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let key = str_member(body, "EventDataStore")?;
        let mut stores = self.lock_stores();
        let i = position(&stores, ctx, key)?;
        let s = &mut stores[i];
        if s.termination_protection {
            return Err(ApiError::client(
                "EventDataStoreTerminationProtectedException",
                format!(
                    "event data store {key} has termination protection enabled: disable it with UpdateEventDataStore first"
                ),
            ));
        }
        if s.status == "PENDING_DELETION" {
            return Err(inactive(key));
        }
        s.status = "PENDING_DELETION".into();
        s.updated = unix_now();
        let all = stores.clone();
        self.save(&all)?;
        Ok(json!({}))
    }
}

/// Where in `stores` the event data store `key` (its ID or ARN) of the caller's account is.
fn position(stores: &[Store], ctx: &CallContext, key: &str) -> Result<usize, ApiError> {
    let id = store_id(key)?;
    stores
        .iter()
        .position(|s| s.id == id && s.account == ctx.account)
        .ok_or_else(|| not_found(key))
}
