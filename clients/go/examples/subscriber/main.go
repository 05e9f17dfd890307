// Command subscriber is a small Go client of clerk-relay: it subscribes to
// events and prints one JSON line per event, or reads one user's state.
//
//	subscriber [-target host:port] [-types 'user.*,session.created'] [-after N] [-count N]
//	subscriber [-target host:port] -get-user user_123
//
// The bearer token, when the relay requires one, comes from CLERK_RELAY_TOKEN.
// Without -after the stream starts live (only events stored from now on);
// -after 0 replays the whole retained log first. Control messages (caught up,
// fell behind) go to stderr. It exits 0 after -count events, 1 on an error.
//
// The typed payload is read without knowing its type: every payload message
// has an `id`, found by protobuf reflection on the `payload` oneof.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	clerkrelayv1 "github.com/clerk-relay/clerk-relay/clients/go/clerkrelay/v1"
)

// eventLine is what is printed for each event.
type eventLine struct {
	Sequence    uint64 `json:"sequence"`
	ID          string `json:"id"`
	Type        string `json:"type"`
	PayloadCase string `json:"payload_case"`
	DataID      string `json:"data_id"`
	Origin      string `json:"origin"`
	RawBodySize int    `json:"raw_body_bytes"`
}

// userLine is what -get-user prints.
type userLine struct {
	ID            string `json:"id"`
	FirstName     string `json:"first_name"`
	Deleted       bool   `json:"deleted"`
	EventSequence uint64 `json:"event_sequence"`
	Snapshot      uint64 `json:"snapshot_sequence"`
}

func main() {
	target := flag.String("target", envOr("CLERK_RELAY_TARGET", "127.0.0.1:50051"), "the relay's gRPC address")
	types := flag.String("types", "", "comma-separated event types or patterns (default: all)")
	after := flag.Int64("after", -1, "replay after this sequence (0: the whole log); default: live")
	count := flag.Int("count", 0, "exit after this many events (default: never)")
	getUser := flag.String("get-user", "", "print this user's last known state and exit")
	flag.Parse()

	ctx := context.Background()
	if token := os.Getenv("CLERK_RELAY_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		fail(err)
	}
	defer conn.Close()

	if *getUser != "" {
		fail(printUser(ctx, clerkrelayv1.NewStateServiceClient(conn), *getUser))
		return
	}
	request := &clerkrelayv1.SubscribeRequest{}
	if *types != "" {
		request.EventTypes = strings.Split(*types, ",")
	}
	if *after >= 0 {
		request.Start = &clerkrelayv1.SubscribeRequest_AfterSequence{AfterSequence: uint64(*after)}
	}
	fail(subscribe(ctx, clerkrelayv1.NewEventServiceClient(conn), request, *count))
}

func subscribe(ctx context.Context, client clerkrelayv1.EventServiceClient, request *clerkrelayv1.SubscribeRequest, count int) error {
	stream, err := client.Subscribe(ctx, request)
	if err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	printed := 0
	for {
		response, err := stream.Recv()
		if err == io.EOF {
			return fmt.Errorf("the server ended the stream")
		}
		if err != nil {
			return err
		}
		switch message := response.Response.(type) {
		case *clerkrelayv1.SubscribeResponse_Events:
			for _, event := range message.Events.Events {
				if err := out.Encode(describe(event)); err != nil {
					return err
				}
				printed++
				if count > 0 && printed >= count {
					return nil
				}
			}
		case *clerkrelayv1.SubscribeResponse_CaughtUp:
			fmt.Fprintf(os.Stderr, "subscriber: caught up at sequence %d\n", message.CaughtUp.Sequence)
		case *clerkrelayv1.SubscribeResponse_FellBehind:
			fmt.Fprintf(os.Stderr, "subscriber: fell behind after sequence %d\n", message.FellBehind.Sequence)
		}
	}
}

// describe reads the event's typed payload, whatever its type, by reflection.
func describe(event *clerkrelayv1.Event) eventLine {
	line := eventLine{
		Sequence:    event.Sequence,
		ID:          event.Id,
		Type:        event.Type,
		Origin:      event.Origin.String(),
		RawBodySize: len(event.RawBody),
	}
	reflected := event.ProtoReflect()
	payload := reflected.WhichOneof(reflected.Descriptor().Oneofs().ByName("payload"))
	if payload != nil {
		line.PayloadCase = string(payload.Name())
		typed := reflected.Get(payload).Message()
		if id := typed.Descriptor().Fields().ByName(protoreflect.Name("id")); id != nil {
			line.DataID = typed.Get(id).String()
		}
	}
	return line
}

func printUser(ctx context.Context, client clerkrelayv1.StateServiceClient, id string) error {
	response, err := client.GetUser(ctx, &clerkrelayv1.GetUserRequest{Id: id})
	if err != nil {
		return err
	}
	record := response.Record
	return json.NewEncoder(os.Stdout).Encode(userLine{
		ID:            record.User.GetId(),
		FirstName:     record.User.GetFirstName(),
		Deleted:       record.Deleted,
		EventSequence: record.EventSequence,
		Snapshot:      response.SnapshotSequence,
	})
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func fail(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "subscriber: %v\n", err)
		os.Exit(1)
	}
}
