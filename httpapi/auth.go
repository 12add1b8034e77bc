package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// keyHeader carries the API key, as in Anchor's API.
const keyHeader = "anchor-api-key"

// keyring checks API keys and maps each to its scope. It keeps only the
// keys' SHA-256 digests, so no key is ever held where it could be printed.
type keyring struct {
	digests [][sha256.Size]byte // empty: open mode, any non-empty key is accepted
}

func newKeyring(keys []string) keyring {
	var k keyring
	for _, key := range keys {
		if key != "" {
			k.digests = append(k.digests, sha256.Sum256([]byte(key)))
		}
	}
	return k
}

func (k keyring) open() bool { return len(k.digests) == 0 }

// scope returns the scope of key, or false if the key is not accepted. The
// scope is derived from the key's digest, so it names no key.
func (k keyring) scope(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(key))
	match := 0
	for i := range k.digests { // no early exit: the time spent says nothing
		match |= subtle.ConstantTimeCompare(sum[:], k.digests[i][:])
	}
	return hex.EncodeToString(sum[:16]), k.open() || match == 1
}
