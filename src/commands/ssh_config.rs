//! `eice-proxy ssh-config [PATTERN]`: the ssh_config block that makes
//! `ssh ec2-user@i-0123…` go through EICE, to append to `~/.ssh/config`.

use std::path::Path;

use crate::cli::{AwsArgs, SshConfigArgs};

pub(super) fn run(aws_args: &AwsArgs, args: SshConfigArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    print!("{}", block(&args, &exe.display().to_string(), aws_args));
    Ok(())
}

/// The block itself; `exe` is this binary's path, so ssh finds it without PATH.
fn block(args: &SshConfigArgs, exe: &str, aws_args: &AwsArgs) -> String {
    let proxy_command = match args.via {
        Some(addr) => format!("nc -X 5 -x {addr} %h %p"),
        None => connect_command(exe, aws_args, None),
    };
    format!(
        "# eice-proxy: reach EC2 instances through EC2 Instance Connect Endpoints.\n\
         # ssh ec2-user@i-0123456789abcdef0 (an instance id, a Name tag with another pattern, or a private IP)\n\
         # known_hosts records each instance under its id, since ssh names the host as typed.\n\
         Host {}\n    ProxyCommand {proxy_command}\n",
        args.pattern
    )
}

/// `EXE [--profile P] [--region R] [--config F] connect %h %p`: the
/// ProxyCommand that runs this binary with the same AWS settings.
pub(super) fn connect_command(exe: &str, aws_args: &AwsArgs, config: Option<&Path>) -> String {
    let mut command = format!("{} ", shell_quote(exe));
    if let Some(profile) = &aws_args.profile {
        command += &format!("--profile {} ", shell_quote(profile));
    }
    if !aws_args.regions.is_empty() {
        command += &format!("--region {} ", shell_quote(&aws_args.regions.join(",")));
    }
    command += "connect ";
    if let Some(config) = config {
        command += &format!("--config {} ", shell_quote(&config.display().to_string()));
    }
    command + "%h %p"
}

/// Quotes for ssh's ProxyCommand, which runs through the user's shell.
fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_runs_this_binary_for_instance_ids() {
        let args = SshConfigArgs {
            pattern: "i-*".into(),
            via: None,
        };
        let aws = AwsArgs {
            regions: vec!["eu-west-1".into()],
            profile: Some("my team".into()),
        };
        let text = block(&args, "/opt/eice proxy/eice-proxy", &aws);
        assert!(text.contains("Host i-*\n"));
        assert!(text.contains("ProxyCommand '/opt/eice proxy/eice-proxy' --profile 'my team' --region eu-west-1 connect %h %p"), "{text}");
    }

    #[test]
    fn via_a_running_proxy_uses_netcat() {
        let args = SshConfigArgs {
            pattern: "*.internal".into(),
            via: Some("127.0.0.1:1080".parse().unwrap()),
        };
        let text = block(&args, "/bin/eice-proxy", &AwsArgs::default());
        assert!(
            text.contains("Host *.internal\n    ProxyCommand nc -X 5 -x 127.0.0.1:1080 %h %p\n"),
            "{text}"
        );
    }
}
