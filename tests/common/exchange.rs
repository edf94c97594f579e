//! One exchange with a command that speaks on stdin and stdout (`connect`,
//! a ProxyCommand): what several test files otherwise wrote out each time.

use std::process::Output;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::timeout;

use super::PATIENCE;

/// Starts `cmd` (its stdin and stdout piped), writes `input` and closes its
/// stdin, then reads its stdout to the end and waits for it to exit, each
/// within [`PATIENCE`]. Returns what it printed and how it ended (its
/// `stdout` already taken, so empty; `stderr` as written).
pub async fn exchange(cmd: &mut Command, input: &[u8]) -> (String, Output) {
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    timeout(PATIENCE, stdout.read_to_string(&mut out))
        .await
        .expect("the command's output within PATIENCE")
        .unwrap();
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the command's exit within PATIENCE")
        .unwrap();
    (out, output)
}
