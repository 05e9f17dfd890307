import com.clerkrelay.v1.Event;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.Message;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads clerk-relay events from stdin, each length-delimited (as
 * `writeDelimitedTo` writes them), and prints one tab-separated line per event:
 * sequence, type, id (the svix-id), the payload case and the payload's `id`.
 *
 * <p>The classes come from protoc's Java output for `protos/`, with the
 * contract's options: package `com.clerkrelay.v1`, one class per message.
 */
public final class PrintEvents {
  private PrintEvents() {}

  public static void main(String[] args) throws IOException {
    InputStream in = System.in;
    Event event;
    while ((event = Event.parseDelimitedFrom(in)) != null) {
      System.out.println(
          event.getSequence() + "\t" + event.getType() + "\t" + event.getId() + "\t"
              + event.getPayloadCase() + "\t" + payloadId(event));
    }
  }

  private static String payloadId(Event event) {
    OneofDescriptor payload = Event.getDescriptor().getOneofs().stream()
        .filter(oneof -> oneof.getName().equals("payload"))
        .findFirst()
        .orElseThrow();
    FieldDescriptor field = event.getOneofFieldDescriptor(payload);
    if (field == null) {
      return "";
    }
    Message typed = (Message) event.getField(field);
    FieldDescriptor id = typed.getDescriptorForType().findFieldByName("id");
    return id == null ? "" : (String) typed.getField(id);
  }
}
