// A media type object has an example: `example`, `examples`, or an example on its
// (resolved) schema, or - for a page or list - on the items of its array members.
function hasExample(schema, depth) {
  if (!schema || typeof schema !== 'object' || depth > 3) return false;
  if (schema.example !== undefined || (Array.isArray(schema.examples) && schema.examples.length)) return true;
  if (schema.items && hasExample(schema.items, depth + 1)) return true;
  for (const k of ['allOf', 'oneOf', 'anyOf']) {
    if (Array.isArray(schema[k]) && schema[k].some((s) => hasExample(s, depth + 1))) return true;
  }
  return false;
}

module.exports = function bodyExample(mediaType) {
  if (!mediaType || typeof mediaType !== 'object') return [];
  if (mediaType.example !== undefined) return [];
  if (mediaType.examples && Object.keys(mediaType.examples).length) return [];
  if (hasExample(mediaType.schema, 0)) return [];
  return [{ message: 'Body has no example: add `example` to the media type or to its schema.' }];
};
