import mongoose, { type Document, type Model, type Query, type Schema } from 'mongoose';
import { isPlainObject, type PlainObject } from './querySafety.js';
import { allWorkspaces } from './tenancy.js';
import { validationErrorOf as validationError } from '../errors.js';
import { setValues } from './updateGuards.js';

type FieldRules = { readonly required: readonly string[]; readonly allowed: readonly string[] };

/** A sub-document whose fields depend on a type (Connection `config` by `type`, Notification `target` by `channel`). */
export interface VariantRule {
  /** The sub-document, e.g. `config`. */
  root: string;
  /** The path that names the type, e.g. `type`. */
  discriminator: string;
  /** Every field of the sub-document. */
  fields: readonly string[];
  /** For each type, the fields it requires and the fields it allows. */
  rules: Readonly<Record<string, FieldRules>>;
  /** Names the type in messages, e.g. "a S3 connection". */
  label: (type: string) => string;
}

type Problem = { path: string; message: string };

const missing = (value: unknown) => value == null || value === '';

/** The rules of a type, looked up by own key: a type such as "toString" is unknown, not Object.prototype's member. */
const rulesOf = (rule: VariantRule, type: string) => (Object.hasOwn(rule.rules, type) ? rule.rules[type] : undefined);

/**
 * Keeps a type-specific sub-document to its type's fields: each required field present, no field of another type.
 */
function checkDocument(doc: Document<unknown>, rule: VariantRule): void {
  const type = doc.get(rule.discriminator) as unknown;
  const rules = typeof type === 'string' ? rulesOf(rule, type) : undefined;
  if (!rules || doc.get(rule.root) == null) return;
  const { root } = rule;
  for (const field of rules.required) {
    // A hidden field that was not loaded is not missing: validate only what this document holds or changes.
    if (!doc.isNew && !doc.isSelected(`${root}.${field}`) && !doc.isModified(`${root}.${field}`)) continue;
    if (missing(doc.get(`${root}.${field}`))) doc.invalidate(`${root}.${field}`, `${root}.${field} is required for ${rule.label(type as string)}`);
  }
  for (const field of rule.fields) {
    if (doc.get(`${root}.${field}`) != null && !rules.allowed.includes(field)) {
      doc.invalidate(`${root}.${field}`, `${root}.${field} does not belong to ${rule.label(type as string)}`);
    }
  }
}

/**
 * The problems an update would leave in the sub-document of a (valid) document of `type`, read from the update
 * alone: a whole sub-document set is checked as it is; a field set must belong to the type and, when required,
 * not be empty; a required field may not be unset.
 */
function updateProblems(rule: VariantRule, type: string, sets: PlainObject, unsets: readonly string[]): Problem[] {
  const rules = rulesOf(rule, type);
  if (!rules) return [];
  const { root } = rule;
  const label = rule.label(type);
  const problems: Problem[] = [];
  const required = (field: string) => problems.push({ path: `${root}.${field}`, message: `${root}.${field} is required for ${label}` });
  const foreign = (field: string) => problems.push({ path: `${root}.${field}`, message: `${root}.${field} does not belong to ${label}` });
  const whole = sets[root];
  if (isPlainObject(whole)) {
    rules.required.filter((f) => missing(whole[f])).forEach(required);
    rule.fields.filter((f) => whole[f] != null && !rules.allowed.includes(f)).forEach(foreign);
  }
  for (const [path, value] of Object.entries(sets)) {
    if (!path.startsWith(`${root}.`)) continue;
    const [field, ...below] = path.slice(root.length + 1).split('.');
    if (value != null && !rules.allowed.includes(field!)) foreign(field!);
    if (below.length === 0 && rules.required.includes(field!) && missing(value)) required(field!);
  }
  unsets.filter((p) => rules.required.some((f) => p === `${root}.${f}`)).forEach((p) => required(p.slice(root.length + 1)));
  return problems;
}

/**
 * Checks an update against the rule for every type among the documents it matches, and returns the filter to
 * write with: the matched types are pinned in it, so a document is only changed under the type it was checked
 * for. An update that changes the type must set the whole sub-document with it.
 */
async function checkUpdate(model: Model<unknown>, rule: VariantRule, filter: unknown, update: unknown, crossWorkspace: boolean): Promise<unknown> {
  if (!isPlainObject(update)) return filter;
  const sets = setValues(update);
  const unsets = isPlainObject(update.$unset) ? Object.keys(update.$unset) : [];
  const touches = (path: string) => path === rule.root || path.startsWith(`${rule.root}.`);
  const newType = sets[rule.discriminator];
  if (newType === undefined && ![...Object.keys(sets), ...unsets].some(touches)) return filter;
  if (newType !== undefined) {
    if (!isPlainObject(sets[rule.root])) {
      throw validationError([{ path: rule.root, message: `changing ${rule.discriminator} needs the whole ${rule.root} in the same update` }]);
    }
    const problems = updateProblems(rule, String(newType), sets, unsets);
    if (problems.length > 0) throw validationError(problems);
    return filter;
  }
  const types = (await model.distinct(rule.discriminator, filter as PlainObject).setOptions({ allWorkspaces: crossWorkspace })) as unknown[];
  const problems = types.flatMap((type) => updateProblems(rule, String(type), sets, unsets));
  if (problems.length > 0) throw validationError(problems);
  const pin = { [rule.discriminator]: mongoose.trusted({ $in: types }) };
  // Beside the filter's fields when it has none of that name: mongoose (an upsert's defaults) and the package's
  // own hooks read the filter's top-level equalities, such as `_id`.
  return isPlainObject(filter) && !(rule.discriminator in filter) ? { ...filter, ...pin } : { $and: [filter ?? {}, pin] };
}

/** The variant rule on documents (save, create, insertMany, replacements) and on query and bulkWrite updates. */
export function variantFields(schema: Schema, rule: VariantRule): void {
  schema.pre('validate', function () {
    checkDocument(this, rule);
  });
  schema.pre(['updateOne', 'updateMany', 'findOneAndUpdate'], async function (this: Query<unknown, unknown>) {
    const filter = await checkUpdate(this.model, rule, this.getFilter(), this.getUpdate(), allWorkspaces(this.getOptions()));
    if (filter !== this.getFilter()) this.setQuery(filter as PlainObject);
  });
  schema.pre('bulkWrite', async function (this: Model<unknown>, ops: unknown[], options: unknown) {
    for (const op of ops) {
      for (const kind of ['updateOne', 'updateMany']) {
        const write = isPlainObject(op) ? op[kind] : undefined;
        if (isPlainObject(write)) write.filter = await checkUpdate(this, rule, write.filter, write.update, allWorkspaces(options));
      }
    }
  });
}
