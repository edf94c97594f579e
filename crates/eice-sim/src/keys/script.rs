//! The sshd side: the URL that lists an instance's pushed keys, and the
//! `AuthorizedKeysCommand` script that asks it.
//!
//! sshd runs `AuthorizedKeysCommand` only if the program and every directory above
//! it are owned by root and writable by no one else, so
//! [`install_authorized_keys_command`] writes the script with mode 0755 into a
//! directory it also sets to 0755; the files are owned by whoever runs it (root,
//! for sshd to accept them), and the directory's ancestors must pass the same
//! test: a directory under the world-writable `/tmp` does not (nor a checkout
//! below it), one from [`crate::sshd::pushed_keys_dir`] under `~/.cache`,
//! made by root, does (tried with OpenSSH's `sshd -i`).

use std::io;
use std::path::{Path, PathBuf};

use super::AUTHORIZED_KEYS_PATH;

/// The URL that lists the keys valid for `instance_id`, to which the OS user's
/// name is appended: `{sim_url}/sim/authorized-keys/{instance_id}/`. `sim_url` is
/// [`crate::ec2_api::Ec2Sim::url`].
pub fn authorized_keys_url(sim_url: &str, instance_id: &str) -> String {
    format!(
        "{}{AUTHORIZED_KEYS_PATH}{instance_id}/",
        sim_url.trim_end_matches('/')
    )
}

/// A `/bin/sh` script for sshd's `AuthorizedKeysCommand … %u` that prints the keys
/// pushed for user `$1` on `instance_id` that are still valid, asking the
/// simulator at `sim_url` with curl, much as Amazon Linux's
/// `eic_run_authorized_keys` asks the instance metadata service. The instance id
/// in the URL is what makes that sshd stand for that instance.
pub fn authorized_keys_command_script(sim_url: &str, instance_id: &str) -> String {
    let url = shell_quote(&authorized_keys_url(sim_url, instance_id));
    format!(
        "#!/bin/sh\n\
         # AuthorizedKeysCommand for an sshd standing for instance {instance_id} of the\n\
         # simulated AWS account: prints the keys pushed to it for user $1 with\n\
         # SendSSHPublicKey that are still valid. In sshd_config:\n\
         #   AuthorizedKeysCommand <this file> %u\n\
         #   AuthorizedKeysCommandUser root\n\
         case \"$1\" in ''|*/*) exit 1 ;; esac\n\
         exec curl --silent --show-error --fail --max-time 5 {url}\"$1\"\n"
    )
}

/// Writes [`authorized_keys_command_script`] to
/// `dir/eic-authorized-keys-{instance_id}` with mode 0755, sets `dir` to 0755,
/// and returns the script's path (see the module docs for what sshd demands of
/// its owner and ancestors).
pub fn install_authorized_keys_command(
    dir: &Path,
    sim_url: &str,
    instance_id: &str,
) -> io::Result<PathBuf> {
    let path = dir.join(format!("eic-authorized-keys-{instance_id}"));
    std::fs::write(&path, authorized_keys_command_script(sim_url, instance_id))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(path)
}

/// `text` in single quotes for `/bin/sh`, each `'` written as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
