// The plain shapes of the models' documents, for code that must not load mongoose (a browser, another service).
// The schemas stay the source of truth: test/types/contracts.test-d.ts fails to compile when one of these
// drifts from the type mongoose infers from its schema. Secret fields are left out: no client ever gets them.
import type {
  ActiveStatus,
  ConnectionType,
  ContactRole,
  ContactStatus,
  HttpMethod,
  NotificationChannel,
  NotificationStatus,
  PrincipalType,
  SessionStatus,
  StreamType,
} from './enums.js';

type Optional<T> = T | null | undefined;

export interface Timestamps {
  createdAt: Date;
  updatedAt: Date;
}

export interface PlainWorkspace extends Timestamps {
  _id: string;
  name: string;
  code?: Optional<string>;
  status: ActiveStatus;
  allowedOrigins: string[];
}

export interface StreamDefinition {
  topic: string;
  type: StreamType;
  description?: Optional<string>;
}

export interface ClientConfigRef {
  clientId: string;
  role?: Optional<string>;
  connectorType?: Optional<string>;
  streamName: string;
  description?: Optional<string>;
}

export interface ConnectionConfigRef {
  connectionId: string;
  connectorType?: Optional<string>;
  streamName: string;
  description?: Optional<string>;
}

export interface TransformConfig {
  type: string;
  sourceStream: string;
  targetStream: string;
  failureQueue?: Optional<string>;
  expression?: Optional<string>;
  description?: Optional<string>;
  isPaused: boolean;
}

export interface NodePosition {
  x: number;
  y: number;
}

export interface PlainPipeline extends Timestamps {
  _id: string;
  workspaceId: string;
  name: string;
  code?: Optional<string>;
  status: ActiveStatus;
  streams: StreamDefinition[];
  sourceClients: ClientConfigRef[];
  sinkConnections: ConnectionConfigRef[];
  transforms: TransformConfig[];
  /** UI layout, node id (see `nodeId`) to position. */
  nodePositions: Record<string, NodePosition>;
}

export interface PlainClient extends Timestamps {
  _id: string;
  name: string;
  status: ActiveStatus;
  allowedScopes: string[];
  allowedTopics: string[];
}

export interface PlainConnection extends Timestamps {
  _id: string;
  name: string;
  type: ConnectionType;
  status: ActiveStatus;
  /** HTTP: url, method (headers hidden); S3: bucket, region, accessKeyId (secretAccessKey hidden). */
  config: {
    url?: Optional<string>;
    method?: Optional<HttpMethod>;
    bucket?: Optional<string>;
    region?: Optional<string>;
    accessKeyId?: Optional<string>;
  };
}

export interface PlainUser extends Timestamps {
  _id: string;
  workspaceId: string;
  username: string;
  roles: string[];
  status: ActiveStatus;
}

export interface PlainSession extends Timestamps {
  _id: string;
  workspaceId: string;
  principalId: string;
  principalType: PrincipalType;
  scopes: string[];
  topics: string[];
  context: unknown;
  status: SessionStatus;
  expiresAt: Date;
}

export interface PlainNotification extends Timestamps {
  _id: string;
  channel: NotificationChannel;
  type: string;
  correlationId: string;
  tenantId?: Optional<string>;
  contactId?: Optional<string>;
  target: { email?: Optional<string>; slackChannel?: Optional<string> };
  payload: unknown;
  status: NotificationStatus;
  error?: Optional<{ message: string; code?: Optional<string>; at: Date }>;
  deliveredAt?: Optional<Date>;
}

export interface PlainContact extends Timestamps {
  _id: string;
  email?: Optional<string>;
  phone?: Optional<string>;
  role: ContactRole;
  status: ContactStatus;
  emailVerified: boolean;
  phoneVerified: boolean;
  tags: string[];
  attributes: unknown;
  source?: Optional<string>;
  lastSeenAt?: Optional<Date>;
}
