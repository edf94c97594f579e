//! `GetPasswordData`: a Windows instance's Administrator password, encrypted
//! to its launch key pair, as `eice-proxy rdp` fetches it.
//!
//! EC2 answers every instance of the account, Linux ones too, and answers an
//! empty `passwordData` until Windows has generated its password (a few
//! minutes after launch): neither is an error, and the client must tell them
//! apart by the instance's `platform`.

use super::derived::CREATED_AT;
use super::error::ApiError;
use super::params::Params;
use super::xml::Xml;
use crate::world::{ResourceKind, World};

/// Answers one call with the `instanceId`, `timestamp` and `passwordData` body.
pub(super) fn get(world: &World, params: &Params) -> Result<String, ApiError> {
    params.check_known(&["InstanceId", "DryRun"])?;
    if params.dry_run()? {
        return Err(ApiError::DryRunOperation);
    }
    let id = params
        .get("InstanceId")
        .ok_or_else(|| ApiError::MissingParameter("InstanceId".into()))?;
    let kind = ResourceKind::Instance;
    if !kind.is_well_formed(id) {
        return Err(ApiError::Malformed {
            kind,
            id: id.to_owned(),
        });
    }
    let instance = world.instance(id).ok_or_else(|| ApiError::NotFound {
        kind,
        ids: vec![id.to_owned()],
    })?;
    let mut x = Xml::new();
    x.leaf("instanceId", &instance.id)
        .leaf("timestamp", CREATED_AT)
        .leaf(
            "passwordData",
            instance.password_data.as_deref().unwrap_or_default(),
        );
    Ok(x.finish())
}
