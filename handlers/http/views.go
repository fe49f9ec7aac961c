package http

import (
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/messages"
)

func newFileView(f domain.File) api.File {
	return api.File{ID: f.ID, Name: f.Name, ContentType: domain.MediaType(f.ContentType), Size: f.Size, SHA256: f.SHA256,
		ZeroBits: f.ZeroBits, OneBits: f.OneBits, StoredIn: nonNil(f.StoredIn), StoredAt: f.StoredAt.UTC()}
}

func newUploadView(u *domain.Upload) api.Upload {
	v := api.Upload{ID: u.ID, State: string(u.State), Name: u.Name, ContentType: u.ContentType, Origin: u.Origin,
		ReceivedBytes: u.ReceivedBytes, SHA256: u.SHA256, ZeroBits: u.ZeroBits, OneBits: u.OneBits,
		PlacedIn: nonNil(u.Keepers), StoredIn: nonNil(u.StoredIn), StatusURL: "/data/uploads/" + u.ID}
	if u.Size >= 0 {
		size := u.Size
		v.Size = &size
	}
	if u.State == domain.Failed {
		v.Failure = &api.Failure{Reason: u.FailureReason, Detail: u.FailureDetail, Service: u.FailedBy}
	}
	if !u.CreatedAt.IsZero() {
		v.CreatedAt, v.UpdatedAt = &u.CreatedAt, &u.UpdatedAt
	}
	return v
}

func nonNil(s []messages.Service) []messages.Service {
	if s == nil {
		return []messages.Service{}
	}
	return s
}
