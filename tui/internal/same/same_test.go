package same

import (
	"math"
	"testing"
	"time"
)

func TestDiffIsStrictWhereTheDashboardWouldDrawADifference(t *testing.T) {
	type row struct {
		F          []float64
		T          time.Time
		B          []byte
		M          map[string][]string
		P          *int
		unexported int
	}
	one, two := 1, 2
	at := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name string
		a, b row
		same bool
	}{
		{"NaN equals NaN", row{F: []float64{math.NaN()}}, row{F: []float64{math.NaN()}}, true},
		{"NaN is not 0", row{F: []float64{math.NaN()}}, row{F: []float64{0}}, false},
		{"an instant in another zone is the same", row{T: at}, row{T: at.In(time.FixedZone("x", 3600))}, true},
		{"another instant is not", row{T: at}, row{T: at.Add(time.Nanosecond)}, false},
		{"nil and empty bytes are the same", row{B: nil}, row{B: []byte{}}, true},
		{"other bytes are not", row{B: []byte{1}}, row{B: []byte{2}}, false},
		{"maps by value", row{M: map[string][]string{"a": {"b"}}}, row{M: map[string][]string{"a": {"c"}}}, false},
		{"pointers by what they point to", row{P: &one}, row{P: &two}, false},
		{"unexported fields count", row{unexported: 1}, row{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := Diff(tt.a, tt.b); (d == "") != tt.same {
				t.Fatalf("Diff = %q, want same %v", d, tt.same)
			}
		})
	}
}
