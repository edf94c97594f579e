//! A whole simulated account in one value: the EC2 Query API and the EICE
//! service over one [`World`] per region, and a stand-in server on 127.0.0.1 for
//! every running instance's ports 22 and 3389. The EICE service judges every
//! tunnel's path by the worlds' security groups and network ACLs, so a running
//! instance they lock out answers no tunnel.
//!
//! The demo, the integration tests and the benches all start this, then point
//! the proxy at it through the standard knobs returned by [`SimAws::env`]. An
//! account in several regions ([`SimAws::start_regions`]) still has one EC2 URL and
//! one EICE URL: each stands for every region's endpoints and tells the regions
//! apart by the region a request is signed for, as the real ones would by host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::clock::SimClock;
use super::ec2_api::{Ec2Sim, Ec2SimConfig};
use super::eice::{EiceSim, EiceSimConfig};
use super::sigv4::SimCredential;
use super::world::{InstanceState, World};

mod key;

pub use key::AccessKey;

/// The ports every simulated instance listens on.
pub const INSTANCE_PORTS: [u16; 2] = [22, 3389];

/// The simulated services and instance stand-ins; dropping it stops them all.
pub struct SimAws {
    /// The first (default) region's world as loaded (instance states may change
    /// later in `ec2`).
    pub world: Arc<World>,
    /// Every region's world as loaded, `world` first.
    pub worlds: Vec<Arc<World>>,
    /// The EC2 Query API (`AWS_ENDPOINT_URL_EC2`).
    pub ec2: Ec2Sim,
    /// The EICE service (`EICE_PROXY_ENDPOINT_URL`).
    pub eice: EiceSim,
    /// The key pair both services accept (besides any extra ones).
    key: AccessKey,
    /// One task per instance port, each answering as that instance.
    instances: Vec<JoinHandle<()>>,
}

impl Drop for SimAws {
    fn drop(&mut self) {
        for task in &self.instances {
            task.abort();
        }
    }
}

impl SimAws {
    /// Starts everything for `world`; `tls` serves EICE over `wss://` with a
    /// generated CA. The AWS documentation's example key pair is accepted: for
    /// tests and benches, not for an account other users of the machine could
    /// reach (see [`SimAws::start_private`]).
    pub async fn start(world: World, tls: bool) -> std::io::Result<SimAws> {
        SimAws::start_with(world, tls, HashMap::new()).await
    }

    /// [`SimAws::start`], with more access keys that both the EC2 API and EICE
    /// accept (temporary ones carry their session token), e.g. the keys a test's
    /// `credential_process` hands out.
    pub async fn start_with(
        world: World,
        tls: bool,
        extra_credentials: HashMap<String, SimCredential>,
    ) -> std::io::Result<SimAws> {
        SimAws::start_regions_with(vec![world], tls, extra_credentials).await
    }

    /// Starts an account spread over several regions, one world each (e.g.
    /// `vec![World::demo(), World::demo_eu()]`); the first is the default region
    /// ([`SimAws::env`]'s `AWS_REGION`). The worlds must be in distinct regions and
    /// share no id ([`Ec2Sim::start_many`]); since the simulated EICE tells
    /// instances apart by private address, their running instances should not
    /// share one either.
    pub async fn start_regions(worlds: Vec<World>, tls: bool) -> std::io::Result<SimAws> {
        SimAws::start_regions_with(worlds, tls, HashMap::new()).await
    }

    /// [`SimAws::start_regions`] with more access keys, as [`SimAws::start_with`].
    pub async fn start_regions_with(
        worlds: Vec<World>,
        tls: bool,
        extra_credentials: HashMap<String, SimCredential>,
    ) -> std::io::Result<SimAws> {
        SimAws::start_account(worlds, tls, AccessKey::example(), extra_credentials).await
    }

    /// [`SimAws::start_regions`] for an account that any local user can reach
    /// (the demo's): it accepts one fresh random key pair ([`SimAws::access_key`],
    /// also in [`SimAws::env`]) and refuses the public example pair, so that
    /// only whoever was shown the pair can call its APIs, e.g. push an SSH key.
    pub async fn start_private(worlds: Vec<World>, tls: bool) -> std::io::Result<SimAws> {
        SimAws::start_account(worlds, tls, AccessKey::random()?, HashMap::new()).await
    }

    async fn start_account(
        worlds: Vec<World>,
        tls: bool,
        key: AccessKey,
        extra_credentials: HashMap<String, SimCredential>,
    ) -> std::io::Result<SimAws> {
        let mut credentials =
            HashMap::from([(key.id.clone(), SimCredential::new(key.secret.clone()))]);
        credentials.extend(extra_credentials);
        let worlds: Vec<Arc<World>> = worlds.into_iter().map(Arc::new).collect();
        let clock = SimClock::new();
        let ec2 = Ec2Sim::start_many(
            worlds.clone(),
            Ec2SimConfig {
                credentials: credentials.clone(),
                clock: clock.clone(),
                ..Ec2SimConfig::default()
            },
        )?;
        let world = worlds[0].clone();
        let endpoints = || {
            worlds
                .iter()
                .flat_map(|w| w.endpoints.iter().map(|e| (e.id.clone(), w.region.clone())))
        };
        let eice = EiceSim::start(EiceSimConfig {
            region: world.region.clone(),
            endpoint_regions: endpoints().collect(),
            credentials,
            endpoint_ids: endpoints().map(|(id, _)| id).collect(),
            tls,
            worlds: worlds.clone(),
            clock,
            ..EiceSimConfig::default()
        })
        .await?;
        let mut instances = Vec::new();
        for world in &worlds {
            instances.extend(stand_ins(world, &eice).await?);
        }
        Ok(SimAws {
            world,
            worlds,
            key,
            ec2,
            eice,
            instances,
        })
    }

    /// AWS's time in this account, which its EC2 API, STS, EC2 Instance
    /// Connect and EICE all keep: move it to play a client whose clock is
    /// off (`clock().advance(ten_minutes)`: this machine is ten minutes behind).
    pub fn clock(&self) -> &SimClock {
        self.ec2.clock()
    }

    /// Deletes an endpoint from the account: the EC2 API no longer lists it
    /// and EICE refuses tunnels through it as the real service does.
    pub fn delete_endpoint(&self, id: &str) -> Result<(), crate::world::WorldError> {
        self.ec2.delete_endpoint(id)?;
        self.eice.delete_endpoint(id);
        Ok(())
    }

    /// The key pair the account accepts: the example pair, or
    /// [`SimAws::start_private`]'s own.
    pub fn access_key(&self) -> &AccessKey {
        &self.key
    }

    /// The environment that points the AWS SDK and eice-proxy at this account;
    /// `AWS_REGION` is the first world's region.
    /// With TLS, `AWS_CA_BUNDLE` must also name a file holding [`EiceSim::ca_pem`].
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.key.id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.key.secret.clone()),
            ("AWS_REGION", self.world.region.clone()),
            ("AWS_ENDPOINT_URL_EC2", self.ec2.url()),
            ("AWS_ENDPOINT_URL_STS", self.ec2.url()),
            ("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT", self.ec2.url()),
            ("EICE_PROXY_ENDPOINT_URL", self.eice.url()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// The whole environment of a process (started with `env_clear`) that
    /// must see this account and nothing of this machine's: [`SimAws::env`],
    /// `PATH`, the AWS config and credentials files pointed at `empty` (an
    /// empty file), and `AWS_ENDPOINT_URL` too, so that any AWS service the
    /// simulator does not stand for still stays on this machine.
    pub fn isolated_env(&self, empty: &std::path::Path) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("AWS_CONFIG_FILE", empty.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", empty.display().to_string()),
            ("AWS_ENDPOINT_URL", self.ec2.url()),
        ];
        env.extend(self.env());
        env
    }
}

/// Starts the listeners for `world`'s running instances and makes them EICE's
/// targets at the instances' addresses.
async fn stand_ins(world: &World, eice: &EiceSim) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for instance in world
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Running)
    {
        let label = match &instance.name {
            Some(name) => format!("{} {name}", instance.id),
            None => instance.id.clone(),
        };
        let addresses = instance.addresses();
        for port in INSTANCE_PORTS {
            let (local, task) =
                spawn_instance(format!("{label} port {port}"), port == 3389).await?;
            tasks.push(task);
            for ip in &addresses {
                eice.add_target(SocketAddr::new(*ip, port), local);
            }
        }
    }
    Ok(tasks)
}

/// The first line every simulated instance sends, SSH-style, so that a client
/// (and a test) can tell which instance and port it reached.
pub fn banner(label: &str) -> String {
    format!("SSH-2.0-eice-proxy-simulated {label}\r\n")
}

/// A stand-in for one instance port. Port 22's greets with [`banner`], then
/// echoes every byte back until the client's EOF, as an SSH server speaks
/// first. With `http`, it instead answers one HTTP request with a page naming
/// the instance (port 3389's: a client-speaks-first service curl can show).
pub async fn spawn_instance(
    label: String,
    http: bool,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            if http {
                tokio::spawn(answer_http(socket, label.clone()));
            } else {
                tokio::spawn(greet_and_echo(socket, banner(&label)));
            }
        }
    });
    Ok((local, task))
}

/// Reads one request head and answers `200` with a line naming the instance.
async fn answer_http(mut socket: TcpStream, label: String) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let body = format!("hello from {label}\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

async fn greet_and_echo(mut socket: TcpStream, greeting: String) {
    let _ = socket.set_nodelay(true);
    if socket.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = socket.shutdown().await;
}

#[cfg(test)]
mod tests;
