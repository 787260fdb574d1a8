// A graphql-inspector diff rule: a breaking change is allowed once CHANGELOG.md announces it.
//
// The rule: every breaking change's schema coordinate (`Query.user`, `Query.user.id` for an
// argument, `User.email`, `Gender.OTHER`, `Session` for a whole type) must appear, in backticks,
// in the `### Breaking` list of the `## [Unreleased]` section of CHANGELOG.md. Announced changes
// are reported as dangerous instead of breaking; the others still fail the diff.
//
// CHANGELOG names another changelog file (the tests use it); the default is the repository's.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DEFAULT_CHANGELOG = fileURLToPath(new URL("../CHANGELOG.md", import.meta.url));

/** The text of the `### Breaking` subsection of `## [Unreleased]`, or "" if there is none. */
export function announcedBreakingChanges(changelog) {
  const unreleased = changelog.split(/^## /m).find((section) => section.startsWith("[Unreleased]"));
  if (!unreleased) {
    return "";
  }
  const breaking = unreleased.split(/^### /m).find((subsection) => /^Breaking\s*$/m.test(subsection.split("\n")[0]));
  return breaking ?? "";
}

export default function announcedInChangelog({ changes }) {
  const announced = announcedBreakingChanges(readFileSync(process.env.CHANGELOG || DEFAULT_CHANGELOG, "utf8"));
  return changes.map((change) => {
    const coordinate = change.path ?? change.type;
    if (change.criticality.level !== "BREAKING" || !announced.includes(`\`${coordinate}\``)) {
      return change;
    }
    return {
      ...change,
      message: `${change.message} (announced in CHANGELOG.md)`,
      criticality: { ...change.criticality, level: "DANGEROUS", reason: "Announced in CHANGELOG.md." },
    };
  });
}
