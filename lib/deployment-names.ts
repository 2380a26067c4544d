/**
 * A deleted deployment keeps its row but frees its name: the reconcile worker renames it
 * "<name>~deleted-<id>" (workers/reconcile/deployment.ts). People see the name they gave.
 */
export const DELETED_NAME_SUFFIX = /~deleted-.*$/;

export function givenDeploymentName(storedName: string): string {
  return storedName.replace(DELETED_NAME_SUFFIX, "");
}
