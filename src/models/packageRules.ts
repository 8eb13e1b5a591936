// The rules that cut across models, applied to every schema of the package in one place (`applyPackageRules`,
// called once by makeModels.ts when the package loads). Each rule reads what it needs from the schema itself
// (immutable paths, `select: false` secret paths, the tenant field), so no model repeats it.
import type { Schema } from 'mongoose';
import { conflictErrors, duplicateKeyErrors, validationErrors } from '../errors.js';
import type { LimitedModel } from '../contracts/limits.js';
import { refuseUncheckedWrites, versionQueryWrites } from './checkedWrites.js';
import { boundInput } from './inputLimits.js';
import { hideSecrets, secretPaths } from './secrets.js';
import { refuseImmutableUpdates } from './updateGuards.js';

export function applyPackageRules(schemas: Readonly<Record<LimitedModel, Schema>>): void {
  for (const [model, schema] of Object.entries(schemas) as Array<[LimitedModel, Schema]>) {
    boundInput(schema, model);
    const secrets = secretPaths(schema);
    if (secrets.length > 0) hideSecrets(schema, secrets);
    schema.plugin(duplicateKeyErrors);
    schema.plugin(conflictErrors);
    schema.plugin(validationErrors);
    schema.plugin(refuseImmutableUpdates);
    schema.plugin(refuseUncheckedWrites);
    schema.plugin(versionQueryWrites);
  }
}
