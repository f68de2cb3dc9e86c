//! Content hashes as the agent and the emulator compute them (blake3, lowercase hex).

pub fn hex(bytes: &[u8]) -> String {
    ::blake3::hash(bytes).to_hex().to_string()
}
