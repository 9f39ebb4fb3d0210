/** ctr's record of a container: $ROOT/containers/<id>/container.json, written at create. */
export interface ContainerRecord {
  id: string;
  name: string;
  /** image ID "sha256:<hex>" */
  image: string;
  /** the image reference as the user gave it */
  imageName: string;
  created: string;
  path: string;
  args: string[];
  /** Docker-shaped Config and HostConfig, for inspect */
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  mounts: { Type: string; Source: string; Destination: string; Mode: string; RW: boolean; Propagation: string }[];
  driver: string;
  autoRemove: boolean;
  bootId?: string;
  /** addresses on user-defined networks, by network name */
  networks?: Record<string, import('../network/store').Endpoint>;
  /**
   * Set (never stored) when container.json cannot be read: what is wrong with it. The other
   * fields then hold what is still known from the bundle and the names index (store.ts).
   */
  damaged?: string;
}
