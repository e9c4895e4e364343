//! A minimal blocking SMTP client for tests that need to know, message by message,
//! whether the server answered `250` (the crash test): nothing more than RFC 5321's
//! happy path, with dot-stuffing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One SMTP connection.
#[derive(Debug)]
pub struct SmtpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl SmtpClient {
    /// Connects, reads the greeting and says EHLO.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        let mut client = Self {
            reader: BufReader::new(stream),
            writer,
        };
        client.reply()?;
        client.command("EHLO test.client")?;
        Ok(client)
    }

    /// Reads one (possibly multi-line) reply; returns its code.
    pub fn reply(&mut self) -> std::io::Result<u16> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(code);
            }
        }
    }

    /// Sends a command line and reads the reply code.
    pub fn command(&mut self, line: &str) -> std::io::Result<u16> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        self.reply()
    }

    /// Sends one message; returns the code of the reply to the end of DATA.
    pub fn send(&mut self, from: &str, to: &[&str], message: &[u8]) -> std::io::Result<u16> {
        let code = self.command(&format!("MAIL FROM:<{from}>"))?;
        if code != 250 {
            return Ok(code);
        }
        for rcpt in to {
            self.command(&format!("RCPT TO:<{rcpt}>"))?;
        }
        let code = self.command("DATA")?;
        if code != 354 {
            return Ok(code);
        }
        let mut data = Vec::with_capacity(message.len() + 16);
        for line in message.split_inclusive(|b| *b == b'\n') {
            if line.first() == Some(&b'.') {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        if !data.ends_with(b"\r\n") {
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b".\r\n");
        self.writer.write_all(&data)?;
        self.reply()
    }
}
