package kafkaclient_test

import (
	"testing"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// A record's key is its partition key, whatever its headers claim, and a
// record without a Watermill id gets one from where it is in the log.
func TestUnmarshalerKeepsTheRecordKeyAndNamesEveryMessage(t *testing.T) {
	header := func(k, v string) *sarama.RecordHeader { return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	for _, c := range []struct {
		name     string
		record   sarama.ConsumerMessage
		key, id  string
		metadata map[string]string
	}{
		{"as kcat sends it: a key, no partition_key, no id",
			sarama.ConsumerMessage{Topic: messages.TopicStoreChunk, Partition: 3, Offset: 17, Key: []byte("upload-1"),
				Headers: []*sarama.RecordHeader{header(messages.HeaderName, messages.NameStoreChunk)}},
			"upload-1", messages.TopicStoreChunk + "/3/17", map[string]string{messages.HeaderName: messages.NameStoreChunk}},
		{"a partition_key header that is not the key",
			sarama.ConsumerMessage{Topic: messages.TopicEvents, Key: []byte("upload-2"),
				Headers: []*sarama.RecordHeader{header(messages.HeaderPartitionKey, "other"), header(wkafka.UUIDHeaderKey, "m-2")}},
			"upload-2", "m-2", nil},
		{"no key at all",
			sarama.ConsumerMessage{Topic: messages.TopicDeleteFile, Partition: 0, Offset: 0,
				Headers: []*sarama.RecordHeader{header(messages.HeaderPartitionKey, "claimed")}},
			"", messages.TopicDeleteFile + "/0/0", nil},
	} {
		msg, err := kafkaclient.Unmarshaler{}.Unmarshal(&c.record)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := msg.Metadata.Get(messages.HeaderPartitionKey); got != c.key || msg.UUID != c.id {
			t.Errorf("%s: partition_key %q, UUID %q; want %q, %q", c.name, got, msg.UUID, c.key, c.id)
		}
		for k, v := range c.metadata {
			if msg.Metadata.Get(k) != v {
				t.Errorf("%s: metadata %s = %q, want %q", c.name, k, msg.Metadata.Get(k), v)
			}
		}
		if _, ok := msg.Metadata[wkafka.UUIDHeaderKey]; ok {
			t.Errorf("%s: the id header is left in the metadata", c.name)
		}
	}
}
