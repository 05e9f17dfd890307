/**
 * The clerk-relay TypeScript client: generated messages and services,
 * {@link createRelayClients} to reach a relay over plain gRPC, and
 * {@link subscribeEvents} for a subscription that resumes on its own and
 * saves its position to a {@link CheckpointStore}.
 *
 * @module
 */

export * from "./backoff.js";
export * from "./checkpoint.js";
export * from "./client.js";
export * from "./consumer.js";
export * from "./subscribe.js";
export * from "./subscribe_options.js";
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
