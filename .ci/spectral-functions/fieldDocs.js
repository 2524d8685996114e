// Walks a schema (unresolved) and reports every field that is not described, and every
// scalar without a format/bounds: strings need a format, enum, const or maxLength;
// integers and numbers need a format and a minimum or maximum.
function types(s) {
  if (Array.isArray(s.type)) return s.type.filter((t) => t !== 'null');
  return s.type ? [s.type] : [];
}

function checkScalar(s, path, out, label) {
  if (!s || typeof s !== 'object' || s.$ref) return;
  const ts = types(s);
  if (ts.includes('string') && s.format === undefined && s.enum === undefined &&
      s.const === undefined && s.maxLength === undefined) {
    out.push({ message: `${label}: string without format, enum or maxLength.`, path });
  }
  if ((ts.includes('integer') || ts.includes('number')) && s.enum === undefined) {
    if (s.format === undefined) out.push({ message: `${label}: number without format.`, path });
    if (s.minimum === undefined && s.maximum === undefined &&
        s.exclusiveMinimum === undefined && s.exclusiveMaximum === undefined) {
      out.push({ message: `${label}: number without minimum/maximum.`, path });
    }
  }
  if (ts.includes('array') && s.items) checkScalar(s.items, path.concat('items'), out, `${label}[]`);
  for (const k of ['oneOf', 'anyOf', 'allOf']) {
    if (Array.isArray(s[k])) s[k].forEach((sub, i) => checkScalar(sub, path.concat(k, i), out, label));
  }
}

function walk(schema, path, out, depth) {
  if (!schema || typeof schema !== 'object' || depth > 8) return;
  if (schema.properties && typeof schema.properties === 'object') {
    for (const [name, prop] of Object.entries(schema.properties)) {
      const p = path.concat('properties', name);
      if (!prop || typeof prop !== 'object') continue;
      const described = (x) => x && typeof x.description === 'string' && x.description.trim() !== '';
      // utoipa puts the description of an Option<Component> inside the oneOf branch: accept it there.
      const branches = [].concat(prop.oneOf || [], prop.anyOf || [], prop.allOf || []);
      if (!described(prop) && !branches.some(described)) {
        out.push({ message: `Field \`${name}\` has no description.`, path: p });
      }
      checkScalar(prop, p, out, `Field \`${name}\``);
      walk(prop, p, out, depth + 1);
    }
  }
  if (schema.items) walk(schema.items, path.concat('items'), out, depth + 1);
  for (const k of ['oneOf', 'anyOf', 'allOf']) {
    if (Array.isArray(schema[k])) schema[k].forEach((sub, i) => walk(sub, path.concat(k, i), out, depth + 1));
  }
}

module.exports = function fieldDocs(schema, _opts, context) {
  const out = [];
  const base = context.path || [];
  // A parameter's schema (or a top-level scalar schema) is itself checked for bounds.
  if (!schema || typeof schema !== 'object') return out;
  if (!schema.properties) checkScalar(schema, base, out, 'Schema');
  walk(schema, base, out, 0);
  return out;
};
