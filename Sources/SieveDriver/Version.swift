// The version of Sieve, printed by `sieve --version` and mixed into artifact cache keys so that a
// new compiler never reuses an artifact an older one built.

/// Sieve's version.
public let sieveVersion = "0.1.0"
