// seqft.h — SeqFT: every backbone weight fine-tuned task after task, no PET block and no protection
// against forgetting (the lower bound of SAPT's tables, as in O-LoRA's and LFPT5's). The backbone is made
// trainable by set_backbone_trainable (private F32 copies; the checkpoint file is never written).
// Not here: the training loop, which simply trains what these hooks list.
#pragma once
#include "sapt/baselines/hooks.h"

// Turns `model`'s backbone trainable (pass a private copy of the Model) and trains it with no PET hook.
MethodHooks seqft_hooks(Model& model);
