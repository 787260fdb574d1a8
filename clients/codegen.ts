import type { CodegenConfig } from "@graphql-codegen/cli";

// Custom scalars as the service sends them; strictScalars fails the run if one is left unmapped.
const scalars = {
  DateTime: "string",
  GenericScalar: "Record<string, unknown>",
  Upload: "Blob",
};

// Typed operations for front ends: every type of the schema (schema.ts), then a result and a
// variables type and a TypedDocumentNode for Apollo Client per operation (operations.ts).
const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: "operations/*.graphql",
  emitLegacyCommonJSImports: false,
  generates: {
    "src/generated/schema.ts": {
      plugins: ["typescript"],
      config: { strictScalars: true, scalars, enumsAsTypes: true, useTypeImports: true },
    },
    "src/generated/operations.ts": {
      plugins: ["typescript-operations", "typed-document-node"],
      config: {
        strictScalars: true,
        scalars,
        useTypeImports: true,
        importSchemaTypesFrom: "src/generated/schema.js",
      },
    },
  },
};

export default config;
