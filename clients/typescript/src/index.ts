/**
 * The clerk-relay TypeScript client: generated messages and services, plus
 * {@link createRelayClients} to reach a relay over plain gRPC.
 *
 * @module
 */

export * from "./client.js";
export * from "./consumer.js";
export * from "./gen/clerkrelay/v1/billing_pb.js";
export * from "./gen/clerkrelay/v1/consumer_service_pb.js";
export * from "./gen/clerkrelay/v1/deleted_object_pb.js";
export * from "./gen/clerkrelay/v1/event_pb.js";
export * from "./gen/clerkrelay/v1/event_service_pb.js";
export * from "./gen/clerkrelay/v1/messages_pb.js";
export * from "./gen/clerkrelay/v1/organizations_pb.js";
export * from "./gen/clerkrelay/v1/roles_pb.js";
export * from "./gen/clerkrelay/v1/sessions_pb.js";
export * from "./gen/clerkrelay/v1/state_service_pb.js";
export * from "./gen/clerkrelay/v1/users_pb.js";
export * from "./gen/clerkrelay/v1/waitlist_pb.js";
