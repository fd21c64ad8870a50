package topology

import "encoding/json"

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("topology: marshal " + err.Error())
	}
	return b
}
