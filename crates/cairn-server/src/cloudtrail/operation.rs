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

#[cfg(test)]
mod tests {
    use super::*;

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
