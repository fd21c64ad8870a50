// Package observe has no code of its own: its tests run the whole demo with
// telemetry on and check what an observer sees. A saga is one trace across
// every service, timeouts and dead letters are in it, the spans published
// over NATS are the ones recorded, every line logged while handling a
// message carries its trace, the metrics endpoint is valid Prometheus and
// the probes follow the instances' health. Telemetry's own packages are
// tested without the demo; these tests need the saga.
package observe
