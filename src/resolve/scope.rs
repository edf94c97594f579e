//! Which regions and profiles the config needs, decided before any client is
//! built: `regions` (each with its profile) are searched for every target,
//! and each `[[route]]` rule looks in its own region with its own profile.

use crate::config::{Config, RouteRule};

/// A region, and the profile whose credentials are used there (`None`: the
/// standard chain's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub region: String,
    pub profile: Option<String>,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.profile {
            Some(profile) => write!(f, "{} (profile {profile})", self.region),
            None => f.write_str(&self.region),
        }
    }
}

/// The scopes a config needs, in order: the searched regions first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scopes: Vec<Scope>,
    /// How many of `scopes`, from the start, are searched for every target.
    pub searched: usize,
    /// Each `[[route]]` rule, with the index of its scope.
    pub routes: Vec<(RouteRule, usize)>,
}

impl Plan {
    /// The plan for `config`; `default_region` (the profile's) stands in for
    /// an empty `regions`.
    pub fn new(config: &Config, default_region: &str) -> Plan {
        let regions = if config.regions.is_empty() {
            vec![default_region.to_owned()]
        } else {
            config.regions.clone()
        };
        let scope = |region: &str, profile: Option<&str>| Scope {
            region: region.to_owned(),
            profile: profile.or(config.profile_for(region)).map(str::to_owned),
        };
        let mut scopes: Vec<Scope> = regions.iter().map(|r| scope(r, None)).collect();
        let searched = scopes.len();
        // `via = "hop"` rules are the hops' business, not EICE's (`resolve::way`).
        let routes = config
            .routes
            .iter()
            .filter(|rule| rule.via.is_none())
            .map(|rule| {
                let wanted = scope(
                    rule.region.as_deref().unwrap_or(&regions[0]),
                    rule.profile.as_deref(),
                );
                let index = match scopes.iter().position(|s| *s == wanted) {
                    Some(index) => index,
                    None => {
                        scopes.push(wanted);
                        scopes.len() - 1
                    }
                };
                (rule.clone(), index)
            })
            .collect();
        Plan {
            scopes,
            searched,
            routes,
        }
    }

    /// The distinct profiles of the plan's scopes, in first-use order.
    pub fn profiles(&self) -> Vec<Option<String>> {
        let mut profiles = Vec::new();
        for scope in &self.scopes {
            if !profiles.contains(&scope.profile) {
                profiles.push(scope.profile.clone());
            }
        }
        profiles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(region: &str, profile: Option<&str>) -> Scope {
        Scope {
            region: region.into(),
            profile: profile.map(Into::into),
        }
    }

    #[test]
    fn no_regions_means_the_profiles_region() {
        let plan = Plan::new(&Config::default(), "eu-west-1");
        assert_eq!(plan.scopes, vec![scope("eu-west-1", None)]);
        assert_eq!(plan.searched, 1);
    }

    #[test]
    fn regions_take_their_own_profile_and_routes_add_scopes() {
        let config = Config::parse(
            "regions = [\"us-east-1\", \"eu-west-1\"]\nprofile = \"dev\"\n\
             [region_profiles]\neu-west-1 = \"prod-eu\"\n\
             [[route]]\ncidr = \"10.9.0.0/16\"\nprofile = \"lab\"\n\
             [[route]]\ncidr = \"10.8.0.0/16\"\nregion = \"eu-west-1\"\n\
             [[route]]\ncidr = \"10.7.0.0/16\"\nregion = \"ap-south-1\"\nvpc = \"vpc-1\"\n",
        )
        .unwrap();
        let plan = Plan::new(&config, "unused-region-1");
        assert_eq!(
            plan.scopes,
            vec![
                scope("us-east-1", Some("dev")),
                scope("eu-west-1", Some("prod-eu")),
                scope("us-east-1", Some("lab")),
                scope("ap-south-1", Some("dev")),
            ]
        );
        assert_eq!(plan.searched, 2);
        let indexes: Vec<usize> = plan.routes.iter().map(|(_, i)| *i).collect();
        assert_eq!(indexes, vec![2, 1, 3]);
        assert_eq!(
            plan.profiles(),
            vec![
                Some("dev".into()),
                Some("prod-eu".into()),
                Some("lab".into())
            ]
        );
    }
}
