package command

import (
	"context"

	"github.com/baum-store/baum/messages"
)

// RequestDeleteHandler asks this service, by the command any Go program may
// send, to delete a file it holds. The router's DeleteFileHandler carries it
// out.
type RequestDeleteHandler struct {
	self     messages.Service
	commands CommandSender
}

// NewRequestDeleteHandler returns a RequestDeleteHandler.
func NewRequestDeleteHandler(self messages.Service, commands CommandSender) RequestDeleteHandler {
	return RequestDeleteHandler{self: self, commands: commands}
}

// Handle sends DeleteFile for file id to this service.
func (h RequestDeleteHandler) Handle(ctx context.Context, id string) error {
	return h.commands.Send(ctx, messages.DeleteFile{FileID: id, Service: h.self})
}
