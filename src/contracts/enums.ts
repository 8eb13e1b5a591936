// Every enum of the seed as an `as const` array: the array is the runtime list the schemas validate against,
// and `(typeof X)[number]` is the TypeScript union a consumer sees. Each rule exists once, here.

/** Workspace, Client, Connection, User and Pipeline status. */
export const ACTIVE_STATUSES = ['active', 'inactive'] as const;
export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];

/** Stream roles within a pipeline: `source|sink|dlq|replay`. */
export const STREAM_TYPES = ['source', 'sink', 'dlq', 'replay'] as const;
export type StreamType = (typeof STREAM_TYPES)[number];

/** Sink connection kinds, each with its own `config` shape. */
export const CONNECTION_TYPES = ['HTTP', 'S3'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

/** Methods an HTTP sink may use to deliver. */
export const HTTP_METHODS = ['POST', 'PUT', 'PATCH'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export const SESSION_STATUSES = ['active', 'revoked'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const PRINCIPAL_TYPES = ['client', 'user'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

export const NOTIFICATION_CHANNELS = ['slack', 'email'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

export const NOTIFICATION_STATUSES = ['queued', 'sent', 'failed'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

export const CONTACT_ROLES = ['admin', 'member', 'agent', 'viewer'] as const;
export type ContactRole = (typeof CONTACT_ROLES)[number];

export const CONTACT_STATUSES = ['active', 'invited', 'inactive', 'deleted'] as const;
export type ContactStatus = (typeof CONTACT_STATUSES)[number];
