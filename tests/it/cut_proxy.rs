//! A PostgreSQL proxy on loopback that can cut a connection right after it forwarded a COMMIT:
//! the server commits, the client never hears it. That is the ambiguous commit of a failover,
//! made to order. It reads the client's side of the protocol (startup, then typed messages) and
//! copies the server's side, which it stops forwarding the moment the COMMIT goes through.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The proxy: clients connect to `port`; it forwards to the server's Unix socket.
pub struct CutProxy {
    pub port: u16,
    /// While set, the next COMMIT of a transaction that ran a statement containing every word
    /// of `marker` is forwarded, then the connection is cut (and this is cleared).
    armed: Arc<Mutex<Option<Armed>>>,
    cuts: Arc<AtomicUsize>,
}

impl CutProxy {
    /// A proxy in front of the server whose socket is `socket`.
    pub fn start(socket: PathBuf) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed: Arc<Mutex<Option<Armed>>> = Arc::default();
        let cuts = Arc::new(AtomicUsize::new(0));
        let (armed_, cuts_) = (armed.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = UnixStream::connect(&socket) else {
                    continue;
                };
                let (armed, cuts) = (armed_.clone(), cuts_.clone());
                std::thread::spawn(move || relay(client, server, &armed, &cuts));
            }
        });
        CutProxy { port, armed, cuts }
    }

    /// Cuts the next COMMIT of a transaction that ran a statement with all of `words`.
    pub fn arm(&self, words: &[&str]) {
        self.arm_after(words, 0);
    }

    /// Lets `skip` such commits through, then cuts the next one.
    pub fn arm_after(&self, words: &[&str], skip: usize) {
        let words = words.iter().map(|w| w.to_lowercase()).collect();
        *self.armed.lock().unwrap() = Some(Armed { words, skip });
    }

    /// How many commits were cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

struct Armed {
    words: Vec<String>,
    skip: usize,
}

fn relay(client: TcpStream, server: UnixStream, armed: &Mutex<Option<Armed>>, cuts: &AtomicUsize) {
    let muted = Arc::new(AtomicBool::new(false));
    // The server's side: copied as it comes, until muted.
    {
        let (mut from, mut to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
        let muted = muted.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            loop {
                let n = match from.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if muted.load(Ordering::SeqCst) || to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        });
    }
    let (mut from, mut to) = (client, server);
    // The startup: untyped messages (an SSL or GSS request first, maybe, then the startup).
    loop {
        let Some(message) = read_untyped(&mut from) else {
            return;
        };
        if to.write_all(&message).is_err() {
            return;
        }
        let code = u32::from_be_bytes(message[4..8].try_into().unwrap());
        if code != 80_877_103 && code != 80_877_104 {
            break;
        }
    }
    // Then typed messages: remember which prepared statements and which transaction touched
    // what the proxy is armed for.
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut ran = String::new();
    while let Some((kind, message)) = read_typed(&mut from) {
        let body = &message[5..];
        match kind {
            b'P' => {
                let mut parts = body.split(|b| *b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                let sql = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_lowercase();
                ran.push_str(&sql);
                ran.push('\n');
                statements.insert(name, sql);
            }
            b'B' => {
                let mut parts = body.split(|b| *b == 0);
                let _portal = parts.next();
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                if let Some(sql) = statements.get(&name) {
                    ran.push_str(sql);
                    ran.push('\n');
                }
            }
            b'Q' => {
                let sql = String::from_utf8_lossy(body)
                    .trim_end_matches('\0')
                    .trim()
                    .to_lowercase();
                if sql == "commit" {
                    let cut = {
                        let mut armed = armed.lock().unwrap();
                        let matched = armed.as_ref().is_some_and(|a| {
                            ran.lines()
                                .any(|s| a.words.iter().all(|w| s.contains(w.as_str())))
                        });
                        match armed.as_mut() {
                            Some(a) if matched && a.skip > 0 => {
                                a.skip -= 1;
                                false
                            }
                            Some(_) if matched => {
                                *armed = None;
                                true
                            }
                            _ => false,
                        }
                    };
                    if cut {
                        cuts.fetch_add(1, Ordering::SeqCst);
                        muted.store(true, Ordering::SeqCst);
                        let _ = to.write_all(&message);
                        // Give the server the time to commit, then cut both sides as a dead
                        // network would: the server sees its client gone, the client its server.
                        std::thread::sleep(Duration::from_millis(300));
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                        return;
                    }
                }
                if sql == "commit" || sql == "rollback" || sql.starts_with("begin") {
                    ran.clear();
                }
                ran.push_str(&sql);
                ran.push('\n');
            }
            _ => {}
        }
        if to.write_all(&message).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

fn read_untyped(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).ok()?;
    let n = u32::from_be_bytes(length) as usize;
    let mut message = length.to_vec();
    message.resize(n.max(8), 0);
    stream.read_exact(&mut message[4..]).ok()?;
    Some(message)
}

fn read_typed(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).ok()?;
    let n = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
    let mut message = head.to_vec();
    message.resize(1 + n, 0);
    stream.read_exact(&mut message[5..]).ok()?;
    Some((head[0], message))
}
