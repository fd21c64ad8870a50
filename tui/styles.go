package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// role is what a piece of text says about the system; Styles maps each role
// to how it looks, so no view picks a colour.
type role uint8

const (
	roleNone     role = iota
	roleHealthy       // working as it should: closed breakers, completed sagas
	roleDegraded      // needs a look: half-open breakers, lag over warn, faults, saturation
	roleFailing       // broken: open breakers, critical lag, parked sagas, crashes
	roleMuted         // secondary: labels, zero values, things not reporting
	roleAccent        // the thing to look at: titles, selected tab, keys
	roleStrong        // emphasis without judgement: headline numbers
)

// Styles is every style of the dashboard, built in one place from one
// renderer. Colours are named by role; with NO_COLOR (or a terminal without
// colours) the renderer drops them and every state is still told apart by
// its text.
type Styles struct {
	Healthy  lipgloss.Style
	Degraded lipgloss.Style
	Failing  lipgloss.Style
	Muted    lipgloss.Style
	Accent   lipgloss.Style
	Strong   lipgloss.Style
	Plain    lipgloss.Style

	// Chrome.
	AppName   lipgloss.Style
	Tab       lipgloss.Style
	ActiveTab lipgloss.Style
	Section   lipgloss.Style
	Header    lipgloss.Style // table column titles
	Selected  lipgloss.Style // the row under the cursor
	Box       lipgloss.Style // the help overlay and inspectors
	BarFull   lipgloss.Style
	BarEmpty  lipgloss.Style

	Help help.Styles
}

// Palette, as light/dark pairs so either terminal background reads well.
var (
	colorHealthy  = lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#3FB950"}
	colorDegraded = lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#D29922"}
	colorFailing  = lipgloss.AdaptiveColor{Light: "#CF222E", Dark: "#F85149"}
	colorMuted    = lipgloss.AdaptiveColor{Light: "#6E7781", Dark: "#8B949E"}
	colorAccent   = lipgloss.AdaptiveColor{Light: "#0969DA", Dark: "#58A6FF"}
	colorSubtle   = lipgloss.AdaptiveColor{Light: "#D0D7DE", Dark: "#30363D"}
)

// NewStyles builds the styles for r, whose colour profile decides whether
// colours are drawn.
func NewStyles(r *lipgloss.Renderer) *Styles {
	s := &Styles{}
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return r.NewStyle().Foreground(c) }
	s.Healthy = fg(colorHealthy)
	s.Degraded = fg(colorDegraded)
	s.Failing = fg(colorFailing).Bold(true)
	s.Muted = fg(colorMuted)
	s.Accent = fg(colorAccent)
	s.Strong = r.NewStyle().Bold(true)
	s.Plain = r.NewStyle()

	s.AppName = fg(colorAccent).Bold(true)
	s.Tab = fg(colorMuted)
	s.ActiveTab = fg(colorAccent).Bold(true).Underline(true)
	s.Section = r.NewStyle().Bold(true)
	s.Header = fg(colorMuted).Bold(true)
	s.Selected = r.NewStyle().Reverse(true)
	s.Box = r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colorAccent).Padding(0, 1)
	s.BarFull = fg(colorAccent)
	s.BarEmpty = fg(colorSubtle)

	s.Help = help.Styles{
		Ellipsis:       s.Muted,
		ShortKey:       s.Accent,
		ShortDesc:      s.Muted,
		ShortSeparator: s.Muted,
		FullKey:        s.Accent,
		FullDesc:       s.Plain,
		FullSeparator:  s.Muted,
	}
	return s
}

// role returns the style of r.
func (s *Styles) role(r role) lipgloss.Style {
	switch r {
	case roleHealthy:
		return s.Healthy
	case roleDegraded:
		return s.Degraded
	case roleFailing:
		return s.Failing
	case roleMuted:
		return s.Muted
	case roleAccent:
		return s.Accent
	case roleStrong:
		return s.Strong
	}
	return s.Plain
}

// paint renders text in r's style; roleNone returns text unchanged, which
// saves a render for the common case.
func (s *Styles) paint(r role, text string) string {
	if r == roleNone || text == "" {
		return text
	}
	return s.role(r).Render(text)
}
