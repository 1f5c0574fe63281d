/**
 * What `npm run bench:identity` shares between its processes: a partner's signing keys (RS256,
 * ES256, EdDSA) published inline, as an air-gapped partner would, so no network is measured, and
 * tokens for a German citizen vouched for by the G7 partner's provider.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { providerInputSchema, type ProviderInput } from "../src/identity/schema.js";

export const ALGS = ["RS256", "ES256", "EdDSA"] as const;
export type Alg = (typeof ALGS)[number];
export const ISSUER = "https://eid.partner.example";
export const AUDIENCE = "urn:clearance:bench";

export interface PartnerKeys {
  readonly provider: ProviderInput;
  sign(alg: Alg, subject: string): Promise<string>;
}

export async function partnerKeys(): Promise<PartnerKeys> {
  const priv = new Map<Alg, CryptoKey>();
  const pub: JWK[] = [];
  for (const alg of ALGS) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    priv.set(alg, privateKey);
    pub.push({ ...(await exportJWK(publicKey)), kid: alg, alg, use: "sig" });
  }
  const provider = providerInputSchema.parse({
    id: "bench-eid",
    issuer: ISSUER,
    jwks: { keys: pub },
    audiences: [AUDIENCE],
    algorithms: [...ALGS],
    claims: { citizenships: "nationality" },
    assurance: { level: "attested" },
    max_assurance: "attested",
  });
  return {
    provider,
    sign: (alg, subject) =>
      new SignJWT({ nationality: ["DE"] })
        .setProtectedHeader({ alg, kid: alg })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime("2h")
        .sign(priv.get(alg)!),
  };
}
