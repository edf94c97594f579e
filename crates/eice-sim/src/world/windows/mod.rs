//! The demo world's Windows instances: the launch key pair whose public half
//! encrypted their Administrator password, and the password it decrypts to.
//!
//! EC2 never holds a Windows password in the clear: the instance encrypts the
//! one it generated to its launch key pair, and `GetPasswordData` hands that
//! ciphertext to whoever holds the private key. The world file stores the
//! ciphertext as EC2 does (`password_data`), made once with
//! `openssl pkeyutl -encrypt -pubin -pkeyopt rsa_padding_mode:pkcs1` from
//! this key; the key is a test key, published here on purpose.

/// The private key of the key pair `win-1` was launched with
/// ([`LAUNCH_KEY_NAME`]), as EC2 hands out a new key pair's `.pem`
/// (PKCS#1, `BEGIN RSA PRIVATE KEY`). For tests and the demo only.
pub const LAUNCH_KEY_PEM: &str = include_str!("launch-key.pem");

/// The key pair's name, the instance's `keyName`.
pub const LAUNCH_KEY_NAME: &str = "eice-sim-windows";

/// The Administrator password of `win-1`: what its `password_data`
/// decrypts to with [`LAUNCH_KEY_PEM`].
pub const ADMINISTRATOR_PASSWORD: &str = "Tq7#vK2m!Rz9pW4x";

/// `win-1`, whose password is ready, and `win-new`, launched moments ago,
/// whose password Windows is still generating.
pub const WIN_1: &str = "i-0a1b2c3d4e5f60008";
/// See [`WIN_1`].
pub const WIN_NEW: &str = "i-0a1b2c3d4e5f60009";
