//! Every CloudTrail 2013-11-01 operation, built or not.

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// A CloudTrail API operation, named as in the AWS model.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )*
        }

        impl Operation {
            /// Every operation of the model.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The operation's wire name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }

            /// Looks an operation up by wire name.
            pub fn from_name(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($name) => Some(Operation::$name),)*
                    _ => None,
                }
            }
        }
    };
}

operations! {
    AddTags, CancelQuery, CreateChannel, CreateDashboard, CreateEventDataStore, CreateTrail,
    DeleteChannel, DeleteDashboard, DeleteEventDataStore, DeleteResourcePolicy, DeleteTrail,
    DeregisterOrganizationDelegatedAdmin, DescribeQuery, DescribeTrails, DisableFederation,
    EnableFederation, GenerateQuery, GetChannel, GetDashboard, GetEventConfiguration,
    GetEventDataStore, GetEventSelectors, GetImport, GetInsightSelectors, GetQueryResults,
    GetResourcePolicy, GetTrail, GetTrailStatus, ListChannels, ListDashboards,
    ListEventDataStores, ListImportFailures, ListImports, ListInsightsData,
    ListInsightsMetricData, ListPublicKeys, ListQueries, ListTags, ListTrails, LookupEvents,
    PutEventConfiguration, PutEventSelectors, PutInsightSelectors, PutResourcePolicy,
    RegisterOrganizationDelegatedAdmin, RemoveTags, RestoreEventDataStore, SearchSampleQueries,
    StartDashboardRefresh, StartEventDataStoreIngestion, StartImport, StartLogging, StartQuery,
    StopEventDataStoreIngestion, StopImport, StopLogging, UpdateChannel, UpdateDashboard,
    UpdateEventDataStore, UpdateTrail,
}

/// The `X-Amz-Target` prefix of CloudTrail operations.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

impl Operation {
    /// Whether the call only reads state (the `readOnly` of its audit event).
    pub fn is_read_only(self) -> bool {
        let n = self.name();
        n.starts_with("Get")
            || n.starts_with("List")
            || n.starts_with("Describe")
            || n.starts_with("Lookup")
            || n.starts_with("Search")
    }
}

impl Operation {
    /// The resource IAM policies decide this call on: the ARN of the trail (or channel,
    /// event data store, resource-policy target) the request names, else `*`. A trail named
    /// by name gets the ARN of that name in the caller's account and region.
    pub fn resource_arn(self, body: &serde_json::Value, account: &str, region: &str) -> String {
        use Operation as O;
        let (field, trail) = match self {
            O::CreateTrail
            | O::UpdateTrail
            | O::DeleteTrail
            | O::GetTrail
            | O::GetTrailStatus
            | O::StartLogging
            | O::StopLogging => ("Name", true),
            O::GetEventSelectors
            | O::PutEventSelectors
            | O::GetInsightSelectors
            | O::PutInsightSelectors => ("TrailName", true),
            O::AddTags | O::RemoveTags => ("ResourceId", false),
            O::GetChannel | O::DeleteChannel | O::UpdateChannel => ("Channel", false),
            O::GetResourcePolicy | O::PutResourcePolicy | O::DeleteResourcePolicy => {
                ("ResourceArn", false)
            }
            O::GetEventDataStore
            | O::UpdateEventDataStore
            | O::DeleteEventDataStore
            | O::RestoreEventDataStore
            | O::StartEventDataStoreIngestion
            | O::StopEventDataStoreIngestion => ("EventDataStore", false),
            _ => return "*".to_owned(),
        };
        let text = body.get(field).and_then(serde_json::Value::as_str);
        // A well-formed trail reference is decided on the trail's canonical ARN (the one the
        // control plane resolves); anything else is passed through as written, and the
        // control plane refuses it (`CloudTrailARNInvalidException`) without touching a
        // trail.
        match text.map(super::trails::parse_trail_ref) {
            Some(Ok(super::trails::TrailRef::Arn {
                region,
                account,
                name,
            })) => return crate::model::trail_arn(&region, &account, &name),
            Some(Ok(super::trails::TrailRef::Name(name))) if trail => {
                return crate::model::trail_arn(region, account, &name);
            }
            _ => {}
        }
        match text {
            Some(v) if v.starts_with("arn:") => v.to_owned(),
            Some(v) if trail && !v.is_empty() => {
                format!("arn:aws:cloudtrail:{region}:{account}:trail/{v}")
            }
            _ => "*".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_arns() {
        let body = serde_json::json!({"Name": "main"});
        assert_eq!(
            Operation::StopLogging.resource_arn(&body, "111111111111", "us-east-1"),
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
        );
        let arn = "arn:aws:cloudtrail:eu-west-1:222222222222:trail/org";
        let body = serde_json::json!({"TrailName": arn});
        assert_eq!(
            Operation::PutEventSelectors.resource_arn(&body, "111111111111", "us-east-1"),
            arn
        );
        assert_eq!(
            Operation::DescribeTrails.resource_arn(&body, "111111111111", "us-east-1"),
            "*"
        );
        assert_eq!(
            Operation::GetChannel.resource_arn(&serde_json::json!({"Channel": "c"}), "1", "r"),
            "*"
        );
    }

    #[test]
    fn authorization_never_uses_a_made_up_trail_arn_as_the_trail() {
        // A foreign or made-up partition is not canonicalized into the real trail's ARN: it
        // is passed through, and the control plane refuses to resolve it.
        let bogus = "arn:x:cloudtrail:us-east-1:111111111111:trail/audit";
        let body = serde_json::json!({ "Name": bogus });
        assert_eq!(
            Operation::StopLogging.resource_arn(&body, "111111111111", "us-east-1"),
            bogus
        );
        assert!(super::super::trails::parse_trail_ref(bogus).is_err());
        assert!(
            super::super::trails::parse_trail_ref(
                "arn:aws-cn:cloudtrail:us-east-1:111111111111:trail/audit"
            )
            .is_err()
        );
        assert!(
            super::super::trails::parse_trail_ref(
                "arn:aws:cloudtrail:us-east-1:111111111111:trail/audit"
            )
            .is_ok()
        );
    }

    #[test]
    fn sixty_operations_round_trip_by_name() {
        assert_eq!(Operation::ALL.len(), 60);
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operation::from_name("CreateTrails"), None);
        assert!(Operation::DescribeTrails.is_read_only());
        assert!(Operation::LookupEvents.is_read_only());
        assert!(!Operation::StopLogging.is_read_only());
    }
}
