/** OCI image config (the parts ctr reads); Docker's field names. */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
}

export interface ImageConfigBlob {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[];
}

/** One unpacked layer in the store. */
export interface LayerRecord {
  /** chain ID, "sha256:<hex>": the key of the layer in the store */
  chainId: string;
  /** uncompressed tar digest, "sha256:<hex>" */
  diffId: string;
  /** absolute path of the unpacked contents (overlay format: whiteouts are 0:0 devices) */
  dir: string;
  /** unpacked size in bytes */
  size: number;
}

/** An image as the rest of ctr sees it. */
export interface ImageRecord {
  /** "sha256:<hex>" of the config blob (Docker's image ID) */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  config: ImageConfigBlob;
  /** bottom first */
  layers: LayerRecord[];
  /** total unpacked size */
  size: number;
  /** when the image entered this store (RFC 3339) */
  loaded: string;
  /** manifest digest "sha256:<hex>" (added by the image store) */
  digest?: string;
  /** ID of the image this one was built from, when known (added by the image store) */
  parent?: string;
  /** every name the image has had, newest first (added by the image store) */
  namesHistory?: string[];
  /** set when the image's record cannot be read (resolveImage with `damaged`): what is wrong */
  damaged?: string;
}

export interface RootfsSpec {
  driver: 'overlay' | 'fuse-overlayfs' | 'vfs';
  /** absolute mount point (overlay, fuse-overlayfs) or the complete tree (vfs) */
  rootPath: string;
  /** annotations to put into the bundle's config.json (ctr.rootfs.*) */
  annotations: Record<string, string>;
}
