/**
 * One gateway instance of `npm run cluster` (server/cluster/main.ts), in a process of its
 * own: it reads its settings from the environment the runner gives it, tells the runner
 * where it listens (IPC), and stops on SIGTERM or when the runner is gone.
 */
import { startGateway } from '../gateway/app';
import { readGatewayOptions } from '../gateway/options';

export interface InstanceMessage {
  type: 'listening';
  url: string;
}

async function main(): Promise<void> {
  const { options } = readGatewayOptions(process.env);
  const gateway = await startGateway(options);
  const stop = () => void gateway.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The runner went away without stopping us (killed): do not linger.
  process.on('disconnect', stop);
  process.send?.({ type: 'listening', url: gateway.url } satisfies InstanceMessage);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
