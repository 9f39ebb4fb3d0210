/**
 * Commands whose work is all awaited when they return (pull, push) ask for a prompt exit:
 * main() then calls process.exit() instead of letting Node wind down pooled keep-alive
 * sockets and tear the heap down first. stdout and stderr are synchronous on Linux (files,
 * pipes and terminals), so nothing written is lost.
 */
let prompt = false;

export function exitPromptly(): void {
  prompt = true;
}

export function exitWhenDone(): boolean {
  return prompt;
}
