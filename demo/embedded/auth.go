package embedded

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
)

// User names of a shared session (Options.Auth).
const (
	// OperatorUser may do everything: inject faults, change the load, run
	// scenarios, manage streams.
	OperatorUser = "operator"
	// ObserverUser may watch everything and change nothing (see Auth).
	ObserverUser = "observer"
	// ServiceUser is the in-process services' own user, with every
	// permission. Its password is generated at every start and never leaves
	// the process (ClientOptions hands it to in-process clients), so the
	// services keep working whatever is done with the operator's password,
	// and connz tells the services' connections from people's by user.
	ServiceUser = "sagascope"
	// SystemUser is the in-process dashboard's login to the system
	// account, which answers the server's own monitoring (varz: CPU and
	// memory; jsz: every stream's replicas). Its password is generated at
	// every start, shared by a cluster's nodes, and never leaves the
	// process (SystemClientOptions). Only a server without Auth has it.
	SystemUser = "sagascope-system"
	// localUser is who a client without a login becomes on a server
	// without Auth: a user with every permission in the global account,
	// as before a system user existed.
	localUser = "local"
)

// ErrExposedWithoutAuth reports a listen address other than loopback with no
// Options.Auth: the server would hand fault injection to the whole network.
var ErrExposedWithoutAuth = errors.New("a server reachable from other machines needs authentication")

// Auth turns authentication on: every client must log in as OperatorUser,
// ObserverUser or ServiceUser. An empty password is generated at Start
// (Roles reports which), so a session is never open by accident.
//
// The server itself enforces the observer's role. An observer may read
// JetStream state (account, stream and consumer info and lists, stored
// messages by get and direct get: the dashboard reads streams that way),
// subscribe to saga, status, log and advisory subjects and its own inboxes
// (every user has its own: User.InboxPrefix), and ask the
// read-only control endpoints (fault list, load, status) and micro discovery
// ($SRV), and answer a scenario's questions (contract.ScenarioAnswerSubject,
// which it may not read). It may not publish anything else: no fault or load change,
// nothing into the saga streams, no stream change, no delete or purge of a
// stream or a message, and no consumer on any stream. A consumer would be
// more than a read: the server does not check a push consumer's deliver
// subject against its creator's permissions, so it would let an observer
// have stored messages replayed onto the saga subjects.
type Auth struct {
	// OperatorPassword and ObserverPassword are the users' passwords; ""
	// generates one.
	OperatorPassword, ObserverPassword string
}

// User is one login of a shared session.
type User struct {
	Name, Password string
	// Generated reports that Start made the password up: whoever runs the
	// session must be shown it, once.
	Generated bool
}

// Roles are the people's logins of a server started with Options.Auth.
type Roles struct {
	Operator, Observer User
}

// auth is the resolved authentication of a Server: fixed at Start, so a
// Restart keeps every password.
type auth struct {
	roles   Roles
	service User
}

// newAuth fills the passwords a generates.
func newAuth(a Auth) (*auth, error) {
	op, obs := login(OperatorUser, a.OperatorPassword), login(ObserverUser, a.ObserverPassword)
	if op.Password == obs.Password {
		return nil, errors.New("the operator and observer passwords are the same: an observer could log in as operator")
	}
	return &auth{roles: Roles{Operator: op, Observer: obs}, service: login(ServiceUser, "")}, nil
}

// login is the user name with password, or with a generated one when
// password is "".
func login(name, password string) User {
	if password != "" {
		return User{Name: name, Password: password}
	}
	// rand.Text is 26 base32 characters, 130 bits: beyond guessing over a
	// network, and easy to read out in a room.
	return User{Name: name, Password: rand.Text(), Generated: true}
}

// InboxPrefix is the prefix of the reply subjects u's clients must use
// (nats.CustomInboxPrefix, the NATS CLI's --inbox-prefix): the only inbox
// the server lets u subscribe to. Replies to a request go to the
// requester's inbox, so whoever could subscribe to another user's inboxes
// would read that user's answers; the default _INBOX is therefore nobody's.
func (u User) InboxPrefix() string { return "_INBOX_" + u.Name }

// serverUsers sets o's accounts and users. With Auth they are the
// people's and the services' users. Without it they are the system
// account with its in-process user, and a user with every permission in
// the global account whom every client without a login becomes. A shared
// session has no system user: with the system account configured,
// nats-server admits clients without a login unless a config file's
// authorization block says otherwise, which Options cannot.
func serverUsers(o *server.Options, a *auth, system User) {
	if a != nil {
		o.Users = a.users()
		return
	}
	sys := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	o.Accounts, o.SystemAccount = []*server.Account{sys}, sys.Name
	o.Users = []*server.User{
		{Username: system.Name, Password: system.Password, Account: sys},
		{Username: localUser, Password: rand.Text()},
	}
	o.NoAuthUser = localUser
}

// users is the server's user list. Every user may subscribe to its own
// inbox and to no other. No user needs publish permission to the others'
// inboxes, or ResponsePermission: only the services answer requests, and
// their user may publish anywhere.
func (a *auth) users() []*server.User {
	all := []User{a.service, a.roles.Operator, a.roles.Observer}
	// othersInboxes are the inboxes u may not subscribe to. The operator
	// and the services subscribe to everything else, so theirs is a deny
	// list; a subscription to a wildcard such as > still takes nothing
	// from the denied inboxes (the server filters its deliveries).
	othersInboxes := func(u User) []string {
		deny := []string{nats.InboxPrefix + ">"}
		for _, o := range all {
			if o != u {
				deny = append(deny, o.InboxPrefix()+".>")
			}
		}
		return deny
	}
	onlyOwnInbox := func(u User) *server.Permissions {
		return &server.Permissions{Subscribe: &server.SubjectPermission{Deny: othersInboxes(u)}}
	}
	return []*server.User{
		{Username: a.service.Name, Password: a.service.Password, Permissions: onlyOwnInbox(a.service)},
		{Username: a.roles.Operator.Name, Password: a.roles.Operator.Password, Permissions: onlyOwnInbox(a.roles.Operator)},
		{Username: a.roles.Observer.Name, Password: a.roles.Observer.Password, Permissions: observerPermissions(a.roles.Observer.InboxPrefix())},
	}
}

// observerPermissions is the read-only role, whose replies come to inbox.
// Allow lists deny everything they do not name.
func observerPermissions(inbox string) *server.Permissions {
	pub := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.LIST",
		"$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.INFO.*",
		"$JS.API.STREAM.MSG.GET.*",
		"$JS.API.DIRECT.GET.>",
		"$JS.API.CONSUMER.LIST.*",
		"$JS.API.CONSUMER.NAMES.*",
		"$JS.API.CONSUMER.INFO.*.*",
		// The read-only control endpoints; set, clear, reset and load.set
		// are not listed.
		contract.FaultListSubject,
		contract.LoadGetSubject,
		contract.StatusQuerySubject("*"),
		// micro discovery (PING, INFO, STATS) only reads.
		"$SRV.>",
		// An attendee's prediction: the one thing an observer may say. The
		// runner counts it, sanitized and rate-limited per attendee.
		contract.ScenarioAnswerSubject,
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{
			Allow: []string{contract.Prefix + ".>", "$JS.EVENT.>", inbox + ".>"},
			// A subscriber in the control endpoints' queue group would
			// take requests away from the services; the control prefix
			// also keeps the live tally and the instructor's requests from
			// attendees. Nor does one attendee read the others' answers.
			Deny: []string{contract.ControlPrefix + ".>", "$SRV.>", contract.ScenarioAnswerSubject},
		},
	}
}

// isLoopback reports whether host only reaches this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses a non-loopback host without authentication.
func checkExposure(host string, a *Auth) error {
	if a == nil && !isLoopback(host) {
		return fmt.Errorf("listen on %s: %w (set passwords, or listen on 127.0.0.1)", host, ErrExposedWithoutAuth)
	}
	return nil
}
