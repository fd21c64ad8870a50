// Package contract is the versioned wire contract between sagascope's demo
// services, its control plane and its observers (the dashboard, `check`,
// `fault`): subject names, stream and bucket names, the message envelope, the
// records kept in KV buckets, the status feed and the control API.
//
// It holds data and pure functions only, so both sides import it and no
// subject or bucket name is ever spelled twice. Anything that changes the
// meaning of a message bumps Version and the "v1" token in the subjects.
package contract
