//! A Windows instance's Administrator password, for `eice-proxy rdp`: what
//! the console's "Get Windows password" does. EC2 keeps the password the
//! instance generated encrypted to its launch key pair (`GetPasswordData`);
//! the key pair's private key ([`LaunchKey`]) decrypts it here, on the
//! user's machine, and nowhere else.
//!
//! Each way this fails says what to do: not a Windows instance, no password
//! yet, a key of another key pair (named), a denied `ec2:GetPasswordData`.

mod key;

pub use key::{KeyError, LaunchKey, NotThisKey};

use zeroize::Zeroizing;

use crate::ec2::{AwsError, Ec2, InstanceInfo};

/// Why an instance's password could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "{id} is not a Windows instance: only Windows instances have a password to fetch; \
         pass --user USER to log in as a user of your own"
    )]
    NotWindows { id: String },
    #[error(
        "{id} has no password yet: Windows is still generating it; try again in a few minutes \
         after launch"
    )]
    NotYet { id: String },
    #[error(
        "{key} is not the key pair this instance was launched with: {key_name}; pass that key \
         pair's .pem with --key"
    )]
    WrongKey { key: String, key_name: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The password of `instance` (known to EC2 through `ec2`), decrypted with `key`.
pub async fn fetch(
    ec2: &Ec2,
    instance: &InstanceInfo,
    key: &LaunchKey,
) -> Result<Zeroizing<String>, PasswordError> {
    if !instance.is_windows() {
        return Err(PasswordError::NotWindows {
            id: instance.id.clone(),
        });
    }
    let Some(data) = ec2.password_data(&instance.id).await? else {
        return Err(PasswordError::NotYet {
            id: instance.id.clone(),
        });
    };
    key.decrypt(&data)
        .map_err(|NotThisKey| PasswordError::WrongKey {
            key: key.path().display().to_string(),
            key_name: instance
                .key_name
                .clone()
                .unwrap_or_else(|| "(EC2 names no key pair)".to_owned()),
        })
}
