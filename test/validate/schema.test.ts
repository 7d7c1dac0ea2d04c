import { describe, expect, it } from 'vitest';

import { SchemaValidator } from '../../lib/validate/schema';

// The validator loads the vendored schemas without their documentation (the `description` strings): a field that is
// itself named description keeps its schema and is checked like any other.
const validator = new SchemaValidator();
const priorityClass = (description: unknown) => ({
  apiVersion: 'scheduling.k8s.io/v1',
  kind: 'PriorityClass',
  metadata: { name: 'p' },
  value: 1000,
  description,
});

describe('schema validation', () => {
  it('checks a field named description: a string passes, another type does not', () => {
    expect(validator.validate(priorityClass('for the app'))).toEqual([]);
    expect(validator.validate(priorityClass(5))).toEqual([{ path: 'description', message: 'expected string, got integer' }]);
  });

  it('still rejects an unknown field and a wrong type next to it', () => {
    const findings = validator.validate({ ...priorityClass('x'), descriptionn: 'typo', value: '1000' });
    expect(findings.map((f) => f.path).sort()).toEqual(['descriptionn', 'value']);
  });
});
