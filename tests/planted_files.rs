//! Another local user plants what eice-proxy reads back: a route cache
//! directory made first (or linked) in a shared `XDG_CACHE_HOME`, a cache
//! file naming their own host as the endpoint or an ssh option as the
//! instance, or a known_hosts file where there is no home directory. Each
//! time the login carries on without what was planted, or fails saying why;
//! it never uses it. The real binary against the simulated AWS, its EC2 API
//! call counters the proof of whether a planted answer was used.
//!
//! Files of "another user" are made by root giving them to uid 4242, as CI
//! runs the tests; a user who is not root sees those tests say they skipped.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;
use serde_json::Value;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const FILE: &str = "routes-default@us-east-1.json";

async fn account() -> SimAws {
    SimAws::start(World::demo(), false).await.unwrap()
}

/// The calls a resolution makes: instances and endpoints.
fn describe_calls(aws: &SimAws) -> (usize, usize) {
    (
        aws.ec2.calls(Action::DescribeInstances),
        aws.ec2.calls(Action::DescribeInstanceConnectEndpoints),
    )
}

/// `eice-proxy connect web-1 22` with `XDG_CACHE_HOME=cache_home`, which
/// must reach web-1; returns its stderr.
async fn login(aws: &SimAws, cache_home: &Path) -> String {
    let (mut cmd, _dir) = aws_command(aws, &["connect", "web-1", "22"]);
    cmd.env("XDG_CACHE_HOME", cache_home)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains(WEB_1), "{stdout}");
    stderr
}

/// A good route file of `aws`'s, as a first login writes it.
async fn good_file(aws: &SimAws) -> Value {
    let home = tempfile::tempdir().unwrap();
    login(aws, home.path()).await;
    let text = std::fs::read_to_string(home.path().join("eice-proxy").join(FILE)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes `json` as the route file in `dir` (made 0700 if missing), 0600.
fn plant(dir: &Path, json: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(FILE);
    std::fs::write(&path, json.to_string()).unwrap();
    chmod(&path, 0o600);
    path
}

/// Gives `path` to uid 4242 (the link itself when `link`), as root can.
fn give_away(path: &Path, link: bool) -> bool {
    if unsafe { libc::geteuid() } != 0 {
        common::skip::skip(
            "the test",
            &format!("only root can give {} to another user", path.display()),
        );
        return false;
    }
    let chown = if link {
        std::os::unix::fs::lchown
    } else {
        std::os::unix::fs::chown
    };
    chown(path, Some(4242), Some(4242)).unwrap();
    true
}

/// The warning that the directory is not used, which must say why.
fn refused_dir(stderr: &str, dir: &Path, why: &str) {
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("not using the route cache"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains(&format!("{} {why}", dir.display()))
            && warning.contains("carrying on without it"),
        "{warning}"
    );
}

#[tokio::test]
async fn a_cache_directory_others_can_write_is_neither_read_nor_written() {
    let aws = account().await;
    let json = good_file(&aws).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("eice-proxy");
    let planted = plant(&dir, &json);
    chmod(&dir, 0o777);
    let stderr = login(&aws, home.path()).await;
    refused_dir(
        &stderr,
        &dir,
        "is writable by its group and others (mode 0777)",
    );
    assert_eq!(
        describe_calls(&aws),
        (2, 2),
        "the planted answers were not used"
    );
    assert_eq!(
        std::fs::read_to_string(&planted).unwrap(),
        json.to_string(),
        "nor rewritten"
    );
    assert!(!dir.join(format!("{FILE}.lock")).exists());
}

#[tokio::test]
async fn a_cache_directory_another_user_made_first_is_neither_read_nor_written() {
    let aws = account().await;
    let json = good_file(&aws).await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("eice-proxy");
    let planted = plant(&dir, &json);
    chmod(&dir, 0o700);
    if !(give_away(&dir, false) && give_away(&planted, false)) {
        return;
    }
    let stderr = login(&aws, home.path()).await;
    refused_dir(&stderr, &dir, "is owned by uid 4242, not by this user");
    assert_eq!(
        describe_calls(&aws),
        (2, 2),
        "the planted answers were not used"
    );
    assert_eq!(
        std::fs::read_to_string(&planted).unwrap(),
        json.to_string(),
        "nor rewritten"
    );
}

#[tokio::test]
async fn a_cache_directory_linked_by_or_to_another_user_is_refused() {
    let aws = account().await;
    let json = good_file(&aws).await;
    let home = tempfile::tempdir().unwrap();
    let link = home.path().join("eice-proxy");
    // Their link, to a directory of ours holding good answers.
    let ours = home.path().join("ours");
    plant(&ours, &json);
    chmod(&ours, 0o700);
    std::os::unix::fs::symlink(&ours, &link).unwrap();
    if !give_away(&link, true) {
        return;
    }
    let stderr = login(&aws, home.path()).await;
    refused_dir(&stderr, &link, "is a symbolic link owned by uid 4242");
    assert_eq!(describe_calls(&aws), (2, 2));
    // Our link, to their directory.
    std::fs::remove_file(&link).unwrap();
    let theirs = home.path().join("theirs");
    plant(&theirs, &json);
    chmod(&theirs, 0o700);
    give_away(&theirs, false);
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    let stderr = login(&aws, home.path()).await;
    refused_dir(&stderr, &link, "is owned by uid 4242");
    assert_eq!(describe_calls(&aws), (3, 3));
}

/// Plants `json` in a private directory of ours, `prepare`s it, logs in,
/// and checks the file was ignored saying `why`, its answers unused, and
/// rewritten good and private. False when `prepare` could not.
async fn ignored_and_rewritten(
    aws: &SimAws,
    json: &Value,
    prepare: impl FnOnce(&Path) -> bool,
    why: &str,
) -> bool {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("eice-proxy");
    let path = plant(&dir, json);
    chmod(&dir, 0o700);
    if !prepare(&path) {
        return false;
    }
    let calls = describe_calls(aws);
    let stderr = login(aws, home.path()).await;
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("ignoring the route cache"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains(&path.display().to_string()) && warning.contains(why),
        "{warning}"
    );
    assert_eq!(
        describe_calls(aws),
        (calls.0 + 1, calls.1 + 1),
        "the file's answers were not used"
    );
    let rewritten = std::fs::read_to_string(&path).unwrap();
    assert!(
        rewritten.contains(WEB_1) && !rewritten.contains("evil"),
        "{rewritten}"
    );
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), unsafe {
        libc::geteuid()
    });
    true
}

/// Leaves a planted file as it is.
fn as_planted(_: &Path) -> bool {
    true
}

#[tokio::test]
async fn a_planted_file_naming_a_foreign_endpoint_host_is_ignored_and_rewritten() {
    let aws = account().await;
    let mut json = good_file(&aws).await;
    let mut endpoint = Value::Null;
    for list in json["endpoints"].as_object_mut().unwrap().values_mut() {
        for e in list["value"].as_array_mut().unwrap() {
            e["dns_name"] = "evil.example".into();
            if endpoint.is_null() {
                endpoint = e["id"].clone(); // the first, which the warning names
            }
        }
    }
    let why = format!(
        "it holds an answer AWS never gives: DNS name of endpoint {} \"evil.example\" is not under",
        endpoint.as_str().unwrap()
    );
    assert!(ignored_and_rewritten(&aws, &json, as_planted, &why).await);
}

#[tokio::test]
async fn a_planted_instance_id_that_is_an_ssh_option_is_ignored_and_rewritten() {
    let aws = account().await;
    let mut json = good_file(&aws).await;
    let evil = "-oProxyCommand=touch${IFS}/tmp/evil";
    for list in json["names"].as_object_mut().unwrap().values_mut() {
        for i in list["value"].as_array_mut().unwrap() {
            i["id"] = evil.into();
        }
    }
    let why = format!("instance id {evil:?} is not i- and 8 or 17 lowercase hex digits");
    assert!(ignored_and_rewritten(&aws, &json, as_planted, &why).await);
}

#[tokio::test]
async fn a_cache_file_others_can_write_is_ignored_and_rewritten_private() {
    let aws = account().await;
    let json = good_file(&aws).await;
    let writable = |path: &Path| {
        chmod(path, 0o646);
        true
    };
    let why = "it is writable by others (mode 0646)";
    assert!(ignored_and_rewritten(&aws, &json, writable, why).await);
    let theirs = |path: &Path| give_away(path, false);
    let why = "it is owned by uid 4242, not by this user";
    ignored_and_rewritten(&aws, &json, theirs, why).await;
}

#[tokio::test]
async fn a_hop_with_no_home_for_its_learned_keys_fails_saying_so_and_never_uses_tmp() {
    let aws = account().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hop_key");
    eice_sim::sshd::keygen_of(&key, "ed25519").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[hop]]\nname = \"web\"\ninstance = \"{WEB_1}\"\nos_user = \"ec2-user\"\n\
             key = {:?}\ncidrs = [\"127.0.0.0/8\"]\n",
            key.display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    // No HOME and no XDG_STATE_HOME (the environment is cleared), as for a
    // root systemd service without User=; TMPDIR is where /tmp was used.
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, _aws_dir) = aws_command(&aws, &["connect", "--config", &config, "web-1", "22"]);
    cmd.env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::null());
    let (status, stdout, stderr) = run(cmd).await;
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("neither XDG_STATE_HOME (an absolute path) nor HOME is set")
            && stderr.contains("[ssh] known_hosts"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing in TMPDIR"
    );
}
