//! SMTP/LMTP (being built).
