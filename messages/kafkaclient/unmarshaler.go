package kafkaclient

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

// Unmarshaler reads a Kafka record into a Watermill message as
// watermill-kafka's DefaultMarshaler does (headers become metadata, the
// _watermill_message_uuid header the message's UUID), and adds what the
// record itself says, whoever produced it:
//
//   - its key, as the partition_key metadata (messages.HeaderPartitionKey),
//     replacing any such header: a message sent on, such as a poisoned one,
//     keeps the key it came with, though its producer (kcat, a program in
//     another language) set no partition_key header;
//   - a UUID from its place in the log, <topic>/<partition>/<offset>, if it
//     carries none, so that every message has an id to log and to find it by.
type Unmarshaler struct{}

var _ kafka.Unmarshaler = Unmarshaler{}

// Unmarshal implements kafka.Unmarshaler.
func (Unmarshaler) Unmarshal(record *sarama.ConsumerMessage) (*message.Message, error) {
	msg, err := kafka.DefaultMarshaler{}.Unmarshal(record)
	if err != nil {
		return nil, err
	}
	msg.Metadata.Set(messages.HeaderPartitionKey, string(record.Key))
	if msg.UUID == "" {
		msg.UUID = fmt.Sprintf("%s/%d/%d", record.Topic, record.Partition, record.Offset)
	}
	return msg, nil
}
