// Package fault holds the faults in force for one service instance and keeps
// them in step with the control bucket, where the control plane's endpoint
// (demo/control/endpoint) writes them. Every instance of a service watches
// the bucket, so a fault set through any instance applies to all of them.
//
// This package applies no fault: the code each kind acts on asks the Table
// (Active, Roll) and counts what fired (Fired). Where each kind of
// contract.FaultKinds takes effect:
//
//	latency          demo/sim: injector.latency, in Dependency.Call (payment's
//	                 gateway, shipping's carrier) and Database.Query
//	                 (inventory's database)
//	error            demo/sim: injector.outcome fails the call with
//	                 ErrUnavailable; demo/worker's Pool retries it
//	dependency_down  demo/sim: injector.outcome fails every call; the
//	                 demo/breaker of payment and shipping opens, inventory
//	                 retries
//	reject           demo/sim: injector.outcome returns a *RejectedError with
//	                 the dependency's RejectReason; demo/ledgerstep
//	                 (Handler.refuse) and demo/shipping (handler.refuse)
//	                 reply the decline
//	duplicate        demo/worker: Pool.handle NAKs a handled message so the
//	                 server delivers it again
//	poison           demo/worker: Pool.inject publishes an undecodable copy
//	                 beside a handled message
//	pause            demo/service: Instance.onFault, then Instance.pause
//	                 pauses the command consumer on the server
//	crash            demo/service: Instance.onFault, then Instance.await drops
//	                 the connection; Instance.Run restarts after RestartAfter
//	burst            demo/loadgen: Generator.effective multiplies the order
//	                 rate; the generator, a client beside the services,
//	                 follows the faults set on orders (Generator.RunClient)
//
// The orders service calls no simulated dependency, so latency, error and
// dependency_down set on it have no effect. demo/README.md has the same
// table beside a guide to every package.
package fault
