package contract

import "time"

// EmptyRequest is the body of the control endpoints that take no parameters
// (FaultListSubject, FaultResetSubject, LoadGetSubject, StatusQuerySubject):
// the schema version alone.
type EmptyRequest struct {
	V int `json:"v"`
}

// FaultRequest sets a fault (FaultSetSubject).
type FaultRequest struct {
	V     int   `json:"v"`
	Fault Fault `json:"fault"`
}

// ClearRequest clears one fault (FaultClearSubject).
type ClearRequest struct {
	V       int       `json:"v"`
	Service Service   `json:"service"`
	Kind    FaultKind `json:"kind"`
}

// FaultReply answers every fault endpoint with the faults in force after the
// request was applied.
type FaultReply struct {
	V      int     `json:"v"`
	Faults []Fault `json:"faults"`
}

// LoadSetting is the load generator's setting, in ControlBucket under
// LoadKey, shared by every load generator instance.
type LoadSetting struct {
	// Rate is orders per second across all generators; 0 pauses the load.
	Rate float64 `json:"rate"`
	// Burst is the size of the last one-off burst; BurstID increases with
	// every burst so each generator places each burst once.
	Burst   int       `json:"burst,omitempty"`
	BurstID uint64    `json:"burst_id,omitempty"`
	Updated time.Time `json:"updated"`
}

// MaxRate bounds the load rate a request may set.
const MaxRate = 100_000

// LoadRequest changes the load (LoadSetSubject). Burst, when above 0,
// places that many orders at once on top of the rate.
type LoadRequest struct {
	V     int      `json:"v"`
	Rate  *float64 `json:"rate,omitempty"`
	Burst int      `json:"burst,omitempty"`
}

// MaxBurst bounds a one-off burst.
const MaxBurst = 100_000

// LoadReply answers the load endpoints.
type LoadReply struct {
	V    int         `json:"v"`
	Load LoadSetting `json:"load"`
}

// ErrorReply is the body of an error answer from a control endpoint; the
// micro error headers (Nats-Service-Error, Nats-Service-Error-Code) carry
// the same text and code.
type ErrorReply struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}
