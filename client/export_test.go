package client

import (
	"path"

	"github.com/eventcoord/eventcoord"
)

// AnswerSlack is answerSlack, for the tests.
const AnswerSlack = answerSlack

// RegistrationID returns the server's id of a Registration made by
// Client.Register, for tests that act on it behind the client's back.
func RegistrationID(r eventcoord.Registration) string { return path.Base(r.(*registration).url) }
