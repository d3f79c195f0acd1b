//! A minimal Kafka client over `kafka-protocol`, enough for the admin and perf commands.
//! It negotiates versions with ApiVersions and supports pipelining (split halves).

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const CLIENT_ID: &str = "strata-cli";

/// The broker a subcommand talks to, shared by the admin subcommands.
#[derive(clap::Args)]
pub struct Bootstrap {
    /// Broker to talk to, host:port.
    #[arg(
        id = "bootstrap_server",
        long = "bootstrap-server",
        env = "STRATA_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub server: String,
}

/// Sending half: encodes and writes requests.
pub struct Sender {
    wr: OwnedWriteHalf,
    next_correlation: i32,
    buf: BytesMut,
}

/// Receiving half: reads responses in order.
pub struct Receiver {
    rd: BufReader<OwnedReadHalf>,
}

/// A connection with the versions the broker advertised.
pub struct Client {
    pub tx: Sender,
    pub rx: Receiver,
    versions: HashMap<i16, (i16, i16)>,
}

impl Client {
    /// Connects and negotiates versions with ApiVersions v3 (falling back to v0).
    pub async fn connect(bootstrap: &str) -> Result<Client> {
        let addr = bootstrap.split(',').next().unwrap_or(bootstrap).trim();
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true).ok();
        let (rd, wr) = stream.into_split();
        let mut client = Client {
            tx: Sender {
                wr,
                next_correlation: 1,
                buf: BytesMut::new(),
            },
            rx: Receiver {
                rd: BufReader::with_capacity(256 * 1024, rd),
            },
            versions: HashMap::new(),
        };
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("strata-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp = client.call(&req, 3).await?;
        if resp.error_code != 0 {
            bail!("ApiVersions failed with error {}", resp.error_code);
        }
        for k in resp.api_keys {
            client
                .versions
                .insert(k.api_key, (k.min_version, k.max_version));
        }
        Ok(client)
    }

    /// The highest version of `key` both sides speak, capped at `max`.
    pub fn version(&self, key: ApiKey, max: i16) -> Result<i16> {
        let (lo, hi) = self
            .versions
            .get(&(key as i16))
            .copied()
            .ok_or_else(|| anyhow!("the broker does not support {key:?}"))?;
        let v = hi.min(max);
        if v < lo {
            bail!("no common version of {key:?} (broker {lo}..{hi}, client up to {max})");
        }
        Ok(v)
    }

    /// Sends one request and waits for its response.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        self.tx.send(req, version).await?;
        self.tx.flush().await?;
        self.rx.recv::<R>(version).await
    }
}

impl Sender {
    /// Encodes and buffers one request; call [`Sender::flush`] to put it on the wire.
    pub async fn send<R: Request>(&mut self, req: &R, version: i16) -> Result<i32> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown api key {}", R::KEY))?;
        let correlation = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let hv = key.request_header_version(version);
        let size = header.compute_size(hv)? + req.compute_size(version)?;
        self.buf.clear();
        self.buf.reserve(size + 4);
        self.buf.put_i32(size as i32);
        header.encode(&mut self.buf, hv)?;
        req.encode(&mut self.buf, version)?;
        self.wr.write_all(&self.buf).await?;
        Ok(correlation)
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.wr.flush().await?;
        Ok(())
    }
}

impl Receiver {
    /// Reads the next response frame and decodes it as `R`'s response.
    pub async fn recv<R: Request>(&mut self, version: i16) -> Result<R::Response> {
        let mut frame = self.recv_frame().await?;
        let hv = <R::Response as HeaderVersion>::header_version(version);
        let _header = ResponseHeader::decode(&mut frame, hv)?;
        let resp = <R::Response as Decodable>::decode(&mut frame, version)?;
        Ok(resp)
    }

    async fn recv_frame(&mut self) -> Result<Bytes> {
        let len = self
            .rd
            .read_i32()
            .await
            .context("connection closed by the broker")?;
        if len < 4 {
            bail!("bad response length {len}");
        }
        let mut frame = BytesMut::zeroed(len as usize);
        self.rd.read_exact(&mut frame).await?;
        let frame = frame.freeze();
        if frame.remaining() < 4 {
            bail!("short response");
        }
        Ok(frame)
    }
}
